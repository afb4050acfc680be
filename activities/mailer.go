package activities

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"dealflow/workflows"
)

// Delivery is how a message left the outbox (the messages.delivery column).
const (
	// DeliverySMTP: accepted by the SMTP server.
	DeliverySMTP = "smtp"
	// DeliveryRecorded: kept in the outbox without sending (no SMTP server
	// configured).
	DeliveryRecorded = "recorded"
	// DeliveryFailed: rejected for good (bad address, 5xx reply); the
	// message's error column says why. It is not retried.
	DeliveryFailed = "failed"
)

// ErrUndeliverable marks a delivery error that retrying cannot fix: the
// recipient is no mail address, or the server refused the recipient or the
// message with a 5xx reply. A refusal of our credentials, our sender address
// or our connection is not one: fixing the configuration delivers it.
var ErrUndeliverable = errors.New("undeliverable")

// Mailer delivers one follow-up message and says how (a Delivery value). A
// Mailer returns an error wrapping ErrUndeliverable when trying again is
// pointless; any other error is retried.
type Mailer interface {
	Send(ctx context.Context, m workflows.Message) (delivery string, err error)
}

// RecordingMailer sends nothing: messages stay in the outbox, marked
// 'recorded'. It is the mailer when no SMTP server is configured.
type RecordingMailer struct{}

// Send marks m delivered as recorded.
func (RecordingMailer) Send(context.Context, workflows.Message) (string, error) {
	return DeliveryRecorded, nil
}

// The TLS modes of an SMTP connection (SMTP_TLS).
const (
	// SMTPTLSImplicit: TLS from the first byte (SMTPS, port 465).
	SMTPTLSImplicit = "implicit"
	// SMTPTLSStartTLS: a plain connection upgraded with STARTTLS, which the
	// server must offer: without it nothing is sent.
	SMTPTLSStartTLS = "starttls"
	// SMTPTLSNone: plain SMTP, for a local mail sink (Mailpit, a test
	// server) only.
	SMTPTLSNone = "none"
)

// SMTPConfig is how an SMTPMailer reaches its server.
type SMTPConfig struct {
	// Addr is the server's host:port.
	Addr string
	// From is the sender address, e.g. "Dealflow <dealflow@example.com>".
	From string
	// Username and Password log in with SMTP AUTH; an empty Username: no
	// AUTH.
	Username, Password string
	// Auth is the SASL mechanism (plain, login, scram-sha-256, scram-sha-1,
	// cram-md5, xoauth2); "" or "auto": the first of PLAIN, LOGIN,
	// SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5 the server offers. PLAIN and
	// LOGIN refuse to send a password without TLS, except to localhost.
	Auth string
	// TLS is SMTPTLSImplicit, SMTPTLSStartTLS or SMTPTLSNone; empty:
	// implicit on port 465, else STARTTLS.
	TLS string
	// RootCAs verify the server's certificate; nil: the system's roots.
	RootCAs *x509.CertPool
	// Timeout bounds one delivery, from dial to QUIT; 20 s when zero.
	Timeout time.Duration
	// HelloName is the name given in EHLO; the machine's host name when
	// empty.
	HelloName string
}

// SMTPMailer sends plain-text mail through one SMTP server, with
// github.com/wneessen/go-mail: over implicit TLS or STARTTLS (required)
// unless plain SMTP is asked for, logging in with SMTP AUTH when it has
// credentials. A new connection per message: follow-ups are few.
type SMTPMailer struct {
	cfg  SMTPConfig
	host string
	port int
	from *mail.Address
	auth []gomail.SMTPAuthType // nil: no AUTH; more than one: the first offered
}

// NewSMTPMailer checks cfg and returns a mailer sending through it.
func NewSMTPMailer(cfg SMTPConfig) (*SMTPMailer, error) {
	host, p, err := net.SplitHostPort(cfg.Addr)
	port, perr := strconv.Atoi(p)
	if err != nil || host == "" || perr != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("smtp: address %q: want host:port", cfg.Addr)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: sender %q: %v", cfg.From, err)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = SMTPTLSStartTLS
		if port == gomail.DefaultPortSSL {
			cfg.TLS = SMTPTLSImplicit
		}
	case SMTPTLSImplicit, SMTPTLSStartTLS, SMTPTLSNone:
	default:
		return nil, fmt.Errorf("smtp: TLS mode %q: want implicit, starttls or none", cfg.TLS)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	s := &SMTPMailer{cfg: cfg, host: host, port: port, from: from}
	if cfg.Username != "" {
		if s.auth, err = authTypes(cfg.Auth); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// authTypes maps an SMTP_AUTH value to go-mail's mechanisms.
func authTypes(name string) ([]gomail.SMTPAuthType, error) {
	switch strings.ToLower(name) {
	case "", "auto":
		// Over TLS PLAIN is what every provider takes; the challenge
		// mechanisms come after it because servers often offer them for
		// password stores that cannot answer them.
		return []gomail.SMTPAuthType{gomail.SMTPAuthPlain, gomail.SMTPAuthLogin,
			gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5}, nil
	case "plain":
		return []gomail.SMTPAuthType{gomail.SMTPAuthPlain}, nil
	case "login":
		return []gomail.SMTPAuthType{gomail.SMTPAuthLogin}, nil
	case "scram-sha-256":
		return []gomail.SMTPAuthType{gomail.SMTPAuthSCRAMSHA256}, nil
	case "scram-sha-1":
		return []gomail.SMTPAuthType{gomail.SMTPAuthSCRAMSHA1}, nil
	case "cram-md5":
		return []gomail.SMTPAuthType{gomail.SMTPAuthCramMD5}, nil
	case "xoauth2":
		return []gomail.SMTPAuthType{gomail.SMTPAuthXOAUTH2}, nil
	}
	return nil, fmt.Errorf("smtp: unknown AUTH mechanism %q", name)
}

// Send delivers m. The Message-ID is derived from m.Key and the Date is
// m.At, so a message sent again after a crash is the same message to the
// receiving side, which can recognise and drop the duplicate.
func (s *SMTPMailer) Send(ctx context.Context, m workflows.Message) (string, error) {
	to, err := mail.ParseAddress(m.Recipient)
	if err != nil {
		return "", fmt.Errorf("%w: recipient %q is not a mail address: %v", ErrUndeliverable, m.Recipient, err)
	}
	msg := s.compose(to, m)

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel() // closes the connection too (dial, below)
	tlsConfig := &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12, RootCAs: s.cfg.RootCAs}
	dial := func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{}
		var conn net.Conn
		var err error
		if s.cfg.TLS == SMTPTLSImplicit {
			// A *tls.Conn, as go-mail's own TLS dial gives: its SMTP client
			// then knows the connection is encrypted.
			conn, err = (&tls.Dialer{NetDialer: d, Config: tlsConfig}).DialContext(dialCtx, network, addr)
		} else {
			conn, err = d.DialContext(dialCtx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		// go-mail bounds each exchange by the timeout but follows the
		// context only while dialing: the end of ctx (the activity's
		// cancellation, or the whole delivery's timeout) closes the
		// connection.
		context.AfterFunc(ctx, func() { conn.Close() })
		return conn, nil
	}
	policy := gomail.TLSMandatory // STARTTLS or nothing
	if s.cfg.TLS != SMTPTLSStartTLS {
		policy = gomail.NoTLS // implicit: the dial made the TLS connection
	}
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSPolicy(policy),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithDialContextFunc(dial),
	}
	if s.cfg.HelloName != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HelloName))
	}
	switch {
	case len(s.auth) == 1:
		opts = append(opts, gomail.WithSMTPAuth(s.auth[0]))
	case len(s.auth) > 1:
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(s.auth...))
	}
	if len(s.auth) > 0 {
		opts = append(opts, gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return "", fmt.Errorf("smtp: %w", err)
	}
	err = c.DialAndSendWithContext(ctx, msg)
	if msg.IsDelivered() {
		// The server accepted the message: a failing RSET or QUIT after it
		// changes nothing.
		return DeliverySMTP, nil
	}
	if err == nil {
		err = errors.New("the message was not accepted") // not expected from go-mail
	}
	return "", s.explain(parent, ctx, err)
}

// explain turns go-mail's error into one line that says what to fix, and
// marks what retrying cannot fix: a 5xx refusal of the recipient or of the
// message. A refusal of the credentials, the sender or the connection is
// retried: the message waits in the outbox until the configuration is
// fixed.
func (s *SMTPMailer) explain(parent, ctx context.Context, err error) error {
	where := "smtp " + s.cfg.Addr
	var sendErr *gomail.SendError
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("%s: stopped with the activity (%v): %w", where, parent.Err(), err)
	case ctx.Err() != nil, errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%s: no delivery within %s (SMTP_TIMEOUT): %w", where, s.cfg.Timeout, err)
	case errors.As(err, &sendErr):
		code := sendErr.ErrorCode()
		switch sendErr.Reason {
		case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
			if code >= 500 && code < 600 && !authRefusal(code, sendErr.EnhancedStatusCode()) && !s.relayDenied(sendErr) {
				return fmt.Errorf("%w: %s refused it: %v", ErrUndeliverable, where, err)
			}
		case gomail.ErrSMTPMailFrom:
			return fmt.Errorf("%s refused the sender %s (SMTP_FROM: may the account send as it?): %w", where, s.from.Address, err)
		}
		return fmt.Errorf("%s: %w", where, err)
	}
	// The rest fail before anything is sent: connection, EHLO, TLS, AUTH.
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	msg := err.Error()
	switch {
	case errors.As(err, &certErr):
		return fmt.Errorf("%s: the server's certificate is not trusted (SMTP_CA_FILE names the CA of a private server): %w", where, err)
	case errors.As(err, &recordErr):
		return fmt.Errorf("%s does not answer in TLS (SMTP_TLS=implicit; its port may want starttls): %w", where, err)
	case strings.Contains(msg, "does not support STARTTLS"):
		return fmt.Errorf("%s offers no STARTTLS, so nothing was sent: TLS is required (SMTP_TLS=starttls; implicit for port 465, none only for a local mail sink)", where)
	case errors.Is(err, gosmtp.ErrUnencrypted):
		return fmt.Errorf("%s: the password would go out without TLS, so it was not sent (SMTP_TLS=none)", where)
	case strings.Contains(msg, "SMTP AUTH failed"):
		return fmt.Errorf("%s refused the credentials of %q (SMTP_USERNAME, SMTP_PASSWORD): %w", where, s.cfg.Username, err)
	case strings.Contains(msg, "does not support SMTP AUTH"), errors.Is(err, gomail.ErrNoSupportedAuthDiscovered):
		return fmt.Errorf("%s offers no AUTH mechanism we can use (SMTP_AUTH=%s): %w", where, s.cfg.Auth, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// relayDenied reports a 5.7.1 refusal while we did not log in: mostly
// "relay access denied", the server wanting the sender to authenticate
// (SMTP_USERNAME), which every message would get until it is set. Retried,
// not settled as failed: settled, every follow-up would be lost meanwhile.
// Logged in, a 5.7.1 is the recipient's policy, and final.
func (s *SMTPMailer) relayDenied(err *gomail.SendError) bool {
	return err.EnhancedStatusCode() == "5.7.1" && s.cfg.Username == ""
}

// authRefusal reports whether a 5xx reply is about our authentication or
// encryption rather than the recipient or the message (RFC 4954, RFC 3463):
// the same reply would come for every message, until someone fixes the
// configuration.
func authRefusal(code int, enhanced string) bool {
	switch code {
	case 530, 534, 535, 538:
		return true
	}
	switch enhanced {
	case "5.7.8", "5.7.9", "5.7.11":
		return true
	}
	return false
}

// MessageID is the Message-ID header of the message with key: the same key
// always gives the same ID.
func MessageID(key, from string) string {
	domain := "dealflow.invalid"
	if at := strings.LastIndex(from, "@"); at >= 0 && at < len(from)-1 {
		domain = strings.Trim(from[at+1:], "<> ")
	}
	sum := sha256.Sum256([]byte(key))
	return "<" + hex.EncodeToString(sum[:16]) + "@" + domain + ">"
}

// compose builds the message: UTF-8 text, quoted-printable, header values
// on one line so that no value can inject a header.
func (s *SMTPMailer) compose(to *mail.Address, m workflows.Message) *gomail.Msg {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent()) // UTF-8, quoted-printable
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to)
	msg.Subject(oneLine(m.Subject))
	date := m.At
	if date.IsZero() {
		date = time.Now()
	}
	msg.SetDateWithValue(date)
	msg.SetMessageIDWithValue(strings.Trim(MessageID(m.Key, s.from.Address), "<>"))
	msg.SetGenHeader("X-Dealflow-Key", oneLine(m.Key))
	if m.Kind != "" {
		msg.SetGenHeader("X-Dealflow-Kind", oneLine(m.Kind))
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	return msg
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
