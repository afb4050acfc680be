package config

import (
	"crypto/x509"
	"net"
	"net/mail"
	"os"
	"slices"
	"strings"
	"time"
)

// The SMTP_TLS modes.
const (
	// SMTPTLSImplicit: TLS from the first byte (SMTPS, port 465).
	SMTPTLSImplicit = "implicit"
	// SMTPTLSStartTLS: plain connection upgraded with STARTTLS, which the
	// server must offer; nothing is sent in clear text otherwise.
	SMTPTLSStartTLS = "starttls"
	// SMTPTLSNone: plain SMTP, for a local mail sink (Mailpit, a test
	// server); only when set explicitly.
	SMTPTLSNone = "none"
)

// SMTPAuthMechanisms are the values SMTP_AUTH accepts.
var SMTPAuthMechanisms = []string{"auto", "plain", "login", "scram-sha-256", "scram-sha-1", "cram-md5", "xoauth2"}

// SMTP is how the worker sends follow-up mail, checked at start so that a
// mistake stops it with one line naming the variable (never the password).
type SMTP struct {
	// Addr is the server's host:port; empty: messages are recorded, not
	// sent, and nothing else below matters.
	Addr string
	// From is the sender address (SMTP_FROM), e.g. "Dealflow <deals@example.com>".
	From string
	// Username and Password log in with SMTP AUTH; both empty: no AUTH.
	Username, Password string
	// Auth is the SASL mechanism: one of SMTPAuthMechanisms.
	Auth string
	// TLS is the SMTP_TLS mode, resolved from the port when not set: one of
	// SMTPTLSImplicit, SMTPTLSStartTLS, SMTPTLSNone.
	TLS string
	// RootCAs are the certificates of SMTP_CA_FILE; nil: the system's roots.
	RootCAs *x509.CertPool
	// Timeout bounds the delivery of one message.
	Timeout time.Duration
}

// SMTP reads the SMTP_* variables.
func (r *Reader) SMTP() SMTP {
	s := SMTP{
		Addr:     r.Addr(SMTPAddr, false),
		From:     r.String(SMTPFrom, false),
		Username: r.String(SMTPUsername, false),
		Password: r.secret(SMTPPassword),
		Auth:     strings.ToLower(r.String(SMTPAuth, false)),
		TLS:      strings.ToLower(r.String(SMTPTLS, false)),
		Timeout:  r.Duration(SMTPTimeout),
	}
	caFile := r.String(SMTPCAFile, false)
	host, port, splitErr := net.SplitHostPort(s.Addr)
	if s.Addr == "" {
		// Nothing is sent: a setting that only matters for sending is a
		// mistake worth a line rather than silence.
		for _, v := range []struct {
			v   Var
			set bool
		}{{SMTPUsername, s.Username != ""}, {SMTPPassword, s.Password != ""}, {SMTPTLS, s.TLS != ""}, {SMTPCAFile, caFile != ""}} {
			if v.set {
				r.fail(v.v, "set, but SMTP_ADDR is empty (follow-up mail is recorded, not sent); set SMTP_ADDR too")
			}
		}
		return s
	}
	if splitErr == nil && host == "" {
		r.fail(SMTPAddr, "want host:port with a host, got %q", s.Addr)
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		r.fail(SMTPFrom, "want a mail address such as \"Dealflow <deals@example.com>\", got %q", s.From)
	}
	switch s.TLS {
	case "":
		s.TLS = SMTPTLSStartTLS
		if port == "465" {
			s.TLS = SMTPTLSImplicit
		}
	case SMTPTLSImplicit, SMTPTLSStartTLS, SMTPTLSNone:
	default:
		r.fail(SMTPTLS, "want implicit, starttls or none, got %q", s.TLS)
	}
	if s.Auth == "" {
		s.Auth = SMTPAuth.Default
	}
	if !slices.Contains(SMTPAuthMechanisms, s.Auth) {
		r.fail(SMTPAuth, "want one of %s, got %q", strings.Join(SMTPAuthMechanisms, ", "), s.Auth)
	}
	switch {
	case s.Username != "" && s.Password == "":
		r.fail(SMTPPassword, "must be set with SMTP_USERNAME")
	case s.Username == "" && s.Password != "":
		r.fail(SMTPUsername, "must be set with SMTP_PASSWORD")
	case s.Username != "" && s.TLS == SMTPTLSNone && !isLoopback(host):
		r.fail(SMTPTLS, "none would send SMTP_PASSWORD in clear text to %s; use starttls or implicit (none is for a local mail sink)", host)
	}
	if caFile != "" {
		if s.TLS == SMTPTLSNone {
			r.fail(SMTPCAFile, "set, but SMTP_TLS=none uses no TLS")
		}
		b, err := os.ReadFile(caFile)
		switch {
		case err != nil:
			r.fail(SMTPCAFile, "cannot read %s", pathError(err, caFile))
		default:
			s.RootCAs = x509.NewCertPool()
			if !s.RootCAs.AppendCertsFromPEM(b) {
				r.fail(SMTPCAFile, "%s holds no PEM certificate", caFile)
			}
		}
	}
	return s
}

// secret returns a variable's value as it is (a password may begin or end
// with a space); empty counts as unset.
func (r *Reader) secret(v Var) string {
	r.vars = append(r.vars, v)
	if s, ok := r.env(v.Name); ok && strings.TrimSpace(s) != "" {
		return s
	}
	return v.Default
}

// isLoopback reports whether host is this machine, where a password in
// clear text does not cross a network.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
