package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

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
// recipient is no mail address, or the server refused with a 5xx reply.
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

// SMTPMailer sends plain-text mail through one SMTP server, without
// authentication, upgrading to TLS when the server offers STARTTLS.
type SMTPMailer struct {
	// Addr is the server's host:port.
	Addr string
	// From is the sender address, e.g. "Dealflow <dealflow@example.com>".
	From string
	// HelloName is the name given in EHLO; "localhost" when empty.
	HelloName string
	// Timeout bounds one delivery (dial to QUIT); 30 s when zero.
	Timeout time.Duration
}

// NewSMTPMailer returns a mailer sending through addr as from.
func NewSMTPMailer(addr, from string) *SMTPMailer {
	return &SMTPMailer{Addr: addr, From: from}
}

// Send delivers m. The Message-ID is derived from m.Key and the Date is
// m.At, so a message sent again after a crash is the same message to the
// receiving side, which can recognise and drop the duplicate.
func (s *SMTPMailer) Send(ctx context.Context, m workflows.Message) (string, error) {
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		// A configuration error: retried until someone fixes SMTP_FROM.
		return "", fmt.Errorf("smtp: sender %q: %w", s.From, err)
	}
	to, err := mail.ParseAddress(m.Recipient)
	if err != nil {
		return "", fmt.Errorf("%w: recipient %q is not a mail address: %v", ErrUndeliverable, m.Recipient, err)
	}
	msg := compose(from, to, m)

	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return "", fmt.Errorf("smtp: %w", err)
	}
	// net/smtp knows no context: a deadline on the connection bounds every
	// exchange, and cancellation closes it.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return "", smtpError("greeting", err)
	}
	defer c.Close()
	hello := s.HelloName
	if hello == "" {
		hello = "localhost"
	}
	if err := c.Hello(hello); err != nil {
		return "", smtpError("EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return "", smtpError("STARTTLS", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return "", smtpError("MAIL FROM", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return "", smtpError("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return "", smtpError("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return "", smtpError("DATA", err)
	}
	if err := w.Close(); err != nil {
		return "", smtpError("DATA", err)
	}
	// The message is accepted; a failing QUIT changes nothing.
	_ = c.Quit()
	return DeliverySMTP, nil
}

// smtpError wraps a failed exchange; a 5xx reply is permanent.
func smtpError(step string, err error) error {
	var tpErr *textproto.Error
	if errors.As(err, &tpErr) && tpErr.Code >= 500 && tpErr.Code < 600 {
		return fmt.Errorf("%w: smtp %s: %v", ErrUndeliverable, step, err)
	}
	return fmt.Errorf("smtp %s: %w", step, err)
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

// compose builds the RFC 5322 message: UTF-8 text, quoted-printable, header
// values stripped of line breaks so no value can inject a header.
func compose(from, to *mail.Address, m workflows.Message) []byte {
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	date := m.At
	if date.IsZero() {
		date = time.Now()
	}
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", MessageID(m.Key, from.Address))
	header("X-Dealflow-Key", mime.QEncoding.Encode("utf-8", oneLine(m.Key)))
	if m.Kind != "" {
		header("X-Dealflow-Kind", mime.QEncoding.Encode("utf-8", oneLine(m.Kind)))
	}
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(m.Body))
	_ = qp.Close()
	return b.Bytes()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
