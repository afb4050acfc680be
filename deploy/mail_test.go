package deploy

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"dealflow/internal/config"
)

// TestMailWiring: the worker sends its follow-up mail to the Mailpit
// service, whose web UI is published on 8025, and plain SMTP (SMTP_TLS=none)
// is set explicitly and only for that local mail catcher; the settings pass
// the worker's own validation.
func TestMailWiring(t *testing.T) {
	p := loadProject(t)
	mp := service(t, p, "mailpit")
	image, tag, _ := strings.Cut(mp.Image, ":")
	if image != "axllent/mailpit" || tag == "" || tag == "latest" {
		t.Errorf("mailpit: image %q, want axllent/mailpit at a pinned version", mp.Image)
	}
	if !publishes(mp, 8025, 8025) {
		t.Errorf("mailpit does not publish its web UI on 8025: %+v", mp.Ports)
	}

	w := service(t, p, "worker")
	e := env(w)
	r := config.NewReaderFrom(e)
	smtp := r.SMTP()
	if err := r.Err(); err != nil {
		t.Fatalf("worker: %v", err)
	}
	host, port, err := net.SplitHostPort(smtp.Addr)
	if err != nil {
		t.Fatalf("worker: SMTP_ADDR=%q is not host:port", smtp.Addr)
	}
	if host != "mailpit" || port != "1025" {
		t.Errorf("worker: SMTP_ADDR=%q, want mailpit:1025 (Mailpit's SMTP port)", smtp.Addr)
	}
	if !slices.Contains(mp.Expose, port) && !publishesTarget(mp, port) {
		t.Errorf("mailpit does not expose %s, where the worker sends: expose %v, ports %+v", port, mp.Expose, mp.Ports)
	}
	if dep, ok := w.DependsOn["mailpit"]; !ok || dep.Condition != types.ServiceConditionStarted {
		t.Errorf("worker does not wait for mailpit to start: %+v", w.DependsOn)
	}
	// Plain SMTP is for the local sink alone, and only when asked for.
	if e[config.SMTPTLS.Name] != config.SMTPTLSNone || smtp.TLS != config.SMTPTLSNone {
		t.Errorf("worker: SMTP_TLS=%q; Mailpit speaks plain SMTP, which must be allowed explicitly with none", e[config.SMTPTLS.Name])
	}
	for name, s := range p.Services {
		for k := range env(s) {
			if strings.HasPrefix(k, "SMTP_") && name != "worker" {
				t.Errorf("%s sets %s; only the worker sends mail", name, k)
			}
		}
	}
	// No credentials in the file: a real provider's come from the
	// environment (README: "Mail").
	if e[config.SMTPPassword.Name] != "" {
		t.Errorf("worker: SMTP_PASSWORD is written in docker-compose.yml")
	}
}

// publishesTarget reports whether s maps container port target to some
// host port.
func publishesTarget(s types.ServiceConfig, target string) bool {
	for _, p := range s.Ports {
		if strconv.Itoa(int(p.Target)) == target {
			return true
		}
	}
	return false
}
