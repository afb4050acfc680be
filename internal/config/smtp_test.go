package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dealflow/internal/config/configtest"
)

// The password of every case: it must never show in an error.
const smtpSecret = "SMTP-s3cret-9d1f"

func TestSMTPSettings(t *testing.T) {
	dir := t.TempDir()
	ca := configtest.NewCA(t, "mail-ca")
	caFile := configtest.Write(t, dir, "ca.pem", ca.Cert)
	cases := []struct {
		name string
		env  map[string]string
		want SMTP
	}{
		{"nothing: mail recorded", nil, SMTP{From: "dealflow@localhost", Auth: "auto", Timeout: 20 * time.Second}},
		{"hosted provider on 465: implicit TLS",
			map[string]string{"SMTP_ADDR": "smtp.example.com:465", "SMTP_FROM": "Dealflow <deals@example.com>",
				"SMTP_USERNAME": "deals@example.com", "SMTP_PASSWORD": " " + smtpSecret + " "},
			SMTP{Addr: "smtp.example.com:465", From: "Dealflow <deals@example.com>", Username: "deals@example.com",
				Password: " " + smtpSecret + " ", Auth: "auto", TLS: SMTPTLSImplicit, Timeout: 20 * time.Second}},
		{"hosted provider on 587: STARTTLS",
			map[string]string{"SMTP_ADDR": "smtp.example.com:587", "SMTP_FROM": "deals@example.com",
				"SMTP_USERNAME": "apikey", "SMTP_PASSWORD": smtpSecret, "SMTP_AUTH": "LOGIN", "SMTP_TIMEOUT": "45s"},
			SMTP{Addr: "smtp.example.com:587", From: "deals@example.com", Username: "apikey", Password: smtpSecret,
				Auth: "login", TLS: SMTPTLSStartTLS, Timeout: 45 * time.Second}},
		{"implicit TLS on another port",
			map[string]string{"SMTP_ADDR": "mail.internal:2465", "SMTP_TLS": "Implicit"},
			SMTP{Addr: "mail.internal:2465", From: "dealflow@localhost", Auth: "auto", TLS: SMTPTLSImplicit, Timeout: 20 * time.Second}},
		{"local sink, plain SMTP asked for",
			map[string]string{"SMTP_ADDR": "mailpit:1025", "SMTP_TLS": "none"},
			SMTP{Addr: "mailpit:1025", From: "dealflow@localhost", Auth: "auto", TLS: SMTPTLSNone, Timeout: 20 * time.Second}},
		{"plain SMTP with a password on loopback",
			map[string]string{"SMTP_ADDR": "127.0.0.1:1025", "SMTP_TLS": "none", "SMTP_USERNAME": "u", "SMTP_PASSWORD": smtpSecret},
			SMTP{Addr: "127.0.0.1:1025", From: "dealflow@localhost", Username: "u", Password: smtpSecret, Auth: "auto",
				TLS: SMTPTLSNone, Timeout: 20 * time.Second}},
		{"an empty password counts as unset",
			map[string]string{"SMTP_ADDR": "mailpit:1025", "SMTP_TLS": "none", "SMTP_PASSWORD": "  "},
			SMTP{Addr: "mailpit:1025", From: "dealflow@localhost", Auth: "auto", TLS: SMTPTLSNone, Timeout: 20 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReaderFrom(tc.env)
			got := r.SMTP()
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}

	r := NewReaderFrom(map[string]string{"SMTP_ADDR": "smtp.example.com:587", "SMTP_CA_FILE": caFile})
	if got := r.SMTP(); r.Err() != nil || got.RootCAs == nil || !got.RootCAs.Equal(ca.Pool()) {
		t.Fatalf("SMTP_CA_FILE: %v, pool %v", r.Err(), got.RootCAs)
	}
}

func TestSMTPMisconfigurationNamesTheVariable(t *testing.T) {
	dir := t.TempDir()
	garbage := configtest.Write(t, dir, "garbage.pem", []byte("not a certificate "+smtpSecret+"\n"))
	base := func(kv ...string) map[string]string {
		m := map[string]string{"SMTP_ADDR": "smtp.example.com:587", "SMTP_FROM": "deals@example.com",
			"SMTP_USERNAME": "deals@example.com", "SMTP_PASSWORD": smtpSecret}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		want []string // all in the one error line; the first is the variable
	}{
		{"unknown TLS mode", base("SMTP_TLS", "ssl"), []string{"SMTP_TLS: want implicit, starttls or none", `"ssl"`}},
		{"plain SMTP with a password to another host", base("SMTP_TLS", "none"),
			[]string{"SMTP_TLS: none would send SMTP_PASSWORD in clear text to smtp.example.com"}},
		{"password without user", base("SMTP_USERNAME", ""), []string{"SMTP_USERNAME: must be set with SMTP_PASSWORD"}},
		{"user without password", base("SMTP_PASSWORD", ""), []string{"SMTP_PASSWORD: must be set with SMTP_USERNAME"}},
		{"unknown mechanism", base("SMTP_AUTH", "gssapi"), []string{"SMTP_AUTH: want one of auto, plain", `"gssapi"`}},
		{"sender is no address", base("SMTP_FROM", "Dealflow"), []string{"SMTP_FROM: want a mail address", `"Dealflow"`}},
		{"address without host", base("SMTP_ADDR", ":587"), []string{"SMTP_ADDR: want host:port with a host"}},
		{"address without port", base("SMTP_ADDR", "smtp.example.com"), []string{"SMTP_ADDR: want host:port"}},
		{"timeout", base("SMTP_TIMEOUT", "soon"), []string{"SMTP_TIMEOUT: want a positive duration", `"soon"`}},
		{"missing CA file", base("SMTP_CA_FILE", filepath.Join(dir, "gone.pem")), []string{"SMTP_CA_FILE: cannot read", "gone.pem", "no such file"}},
		{"CA file without a certificate", base("SMTP_CA_FILE", garbage), []string{"SMTP_CA_FILE:", "holds no PEM certificate"}},
		{"CA file with plain SMTP", map[string]string{"SMTP_ADDR": "mailpit:1025", "SMTP_TLS": "none", "SMTP_CA_FILE": garbage},
			[]string{"SMTP_CA_FILE: set, but SMTP_TLS=none uses no TLS"}},
		{"credentials without a server", base("SMTP_ADDR", ""), []string{"SMTP_USERNAME: set, but SMTP_ADDR is empty"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReaderFrom(tc.env)
			r.SMTP()
			err := r.Err()
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, smtpSecret) {
				t.Fatalf("the error shows the password: %s", msg)
			}
			line := msg
			for l := range strings.SplitSeq(msg, "\n") {
				if strings.HasPrefix(l, tc.want[0]) {
					line = l
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Fatalf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}
