package activities_test

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"dealflow/activities"
	"dealflow/workflows"
)

// smtpServer is a tiny SMTP server on 127.0.0.1 that keeps what it receives.
type smtpServer struct {
	Addr string
	// reply, when set, answers RCPT TO for an address instead of 250.
	reply func(rcpt string) string
	// hangUp closes the connection right after accepting a message.
	hangUp bool

	mu   sync.Mutex
	msgs []received
}

type received struct {
	From string
	To   []string
	Data []byte
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{Addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	reply := func(line string) { _ = tp.PrintfLine("%s", line) }
	reply("220 test.local ESMTP ready")
	var from string
	var to []string
	arg := func(line string) string {
		_, v, _ := strings.Cut(line, ":")
		return strings.Trim(strings.Fields(v + " ")[0], "<>")
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " ")[0])
		switch verb {
		case "EHLO":
			reply("250-test.local greets you")
			reply("250 8BITMIME")
		case "HELO", "NOOP", "RSET":
			reply("250 OK")
		case "MAIL":
			from, to = arg(line), nil
			reply("250 OK")
		case "RCPT":
			rcpt := arg(line)
			if s.reply != nil {
				if r := s.reply(rcpt); r != "" {
					reply(r)
					continue
				}
			}
			to = append(to, rcpt)
			reply("250 OK")
		case "DATA":
			reply("354 end with <CRLF>.<CRLF>")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, received{From: from, To: to, Data: data})
			s.mu.Unlock()
			reply("250 OK queued")
			if s.hangUp {
				return
			}
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

// plainMailer sends to a test server on loopback: plain SMTP, asked for
// explicitly, as for any local mail sink.
func plainMailer(t *testing.T, addr, from string) *activities.SMTPMailer {
	t.Helper()
	m, err := activities.NewSMTPMailer(activities.SMTPConfig{Addr: addr, From: from, TLS: activities.SMTPTLSNone})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (s *smtpServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func TestSMTPMailer(t *testing.T) {
	srv := startSMTP(t)
	m := plainMailer(t, srv.Addr, "Dealflow <deals@example.com>")
	msg := workflows.Message{
		Key: "lead/L1/thankyou", Kind: "thankyou", Recipient: "Ann Lee <ann@contoso.example>",
		Subject: "Danke für Ihre Bestellung\r\nBcc: evil@example.com",
		Body:    "Dear Ann,\nthank you.\n.\nA line that is longer than seventy-six characters goes over more than one line in quoted-printable.",
		At:      time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
	}
	ctx := context.Background()
	for range 2 {
		delivery, err := m.Send(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		if delivery != activities.DeliverySMTP {
			t.Fatalf("delivery %q", delivery)
		}
	}
	got := srv.received()
	if len(got) != 2 {
		t.Fatalf("%d messages received, want 2", len(got))
	}
	if got[0].From != "deals@example.com" || len(got[0].To) != 1 || got[0].To[0] != "ann@contoso.example" {
		t.Fatalf("envelope from %q to %v", got[0].From, got[0].To)
	}
	var ids []string
	for _, r := range got {
		pm, err := mail.ReadMessage(strings.NewReader(string(r.Data)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, pm.Header.Get("Message-ID"))
		subject, err := new(mime.WordDecoder).DecodeHeader(pm.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		if subject != "Danke für Ihre Bestellung Bcc: evil@example.com" {
			t.Fatalf("subject %q", subject)
		}
		if pm.Header.Get("Bcc") != "" {
			t.Fatal("a header was injected through the subject")
		}
		body, err := io.ReadAll(quotedprintable.NewReader(pm.Body))
		if err != nil {
			t.Fatal(err)
		}
		// The test server's dot reader turns CRLF into LF and ends the body
		// with one.
		if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != msg.Body+"\n" {
			t.Fatalf("body %q, want %q", got, msg.Body)
		}
		if d := pm.Header.Get("Date"); d != "Wed, 04 Mar 2026 05:06:07 +0000" {
			t.Fatalf("Date %q", d)
		}
		if k := pm.Header.Get("X-Dealflow-Key"); k != msg.Key {
			t.Fatalf("X-Dealflow-Key %q", k)
		}
	}
	// A resend is recognisable: the same Message-ID, derived from the key.
	want := activities.MessageID(msg.Key, "deals@example.com")
	if ids[0] != want || ids[1] != want || !strings.HasSuffix(want, "@example.com>") {
		t.Fatalf("Message-IDs %v, want %s", ids, want)
	}
	if activities.MessageID("lead/L1/other", "deals@example.com") == want {
		t.Fatal("different keys give the same Message-ID")
	}
}

func TestSMTPMailerErrors(t *testing.T) {
	srv := startSMTP(t)
	srv.reply = func(rcpt string) string {
		switch {
		case strings.HasPrefix(rcpt, "gone@"):
			return "550 5.1.1 no such user"
		case strings.HasPrefix(rcpt, "busy@"):
			return "451 4.3.0 try again later"
		}
		return ""
	}
	m := plainMailer(t, srv.Addr, "deals@example.com")
	ctx := context.Background()
	send := func(rcpt string) error {
		_, err := m.Send(ctx, workflows.Message{Key: "k-" + rcpt, Recipient: rcpt, Subject: "s", Body: "b"})
		return err
	}
	cases := []struct {
		rcpt      string
		permanent bool
	}{
		{"gone@example.com", true},
		{"rep1", true}, // a user id with no address on file
		{"busy@example.com", false},
	}
	for _, tc := range cases {
		err := send(tc.rcpt)
		if err == nil {
			t.Fatalf("%s: no error", tc.rcpt)
		}
		if errors.Is(err, activities.ErrUndeliverable) != tc.permanent {
			t.Fatalf("%s: permanent = %v, want %v (%v)", tc.rcpt, !tc.permanent, tc.permanent, err)
		}
	}

	// No server listening: a temporary failure.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, err = plainMailer(t, closed, "deals@example.com").Send(ctx, workflows.Message{Key: "k", Recipient: "a@example.com"})
	if err == nil || errors.Is(err, activities.ErrUndeliverable) {
		t.Fatalf("closed port: %v", err)
	}
}

// The server accepted the message, then the connection broke before RSET
// and QUIT: the message is delivered, not retried (which would send it
// twice).
func TestSMTPMailerAcceptedThenHungUp(t *testing.T) {
	srv := startSMTP(t)
	srv.hangUp = true
	delivery, err := plainMailer(t, srv.Addr, "deals@example.com").Send(context.Background(),
		workflows.Message{Key: "k", Recipient: "ann@example.com", Subject: "s", Body: "b"})
	if err != nil || delivery != activities.DeliverySMTP {
		t.Fatalf("delivery %q, %v", delivery, err)
	}
	if n := len(srv.received()); n != 1 {
		t.Fatalf("%d messages received, want 1", n)
	}
}
