package activities_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"go.temporal.io/sdk/temporal"

	"dealflow/activities"
	"dealflow/internal/config"
	"dealflow/internal/tests/testenv"
	"dealflow/workflows"
)

// The tests' credentials; the password must never show in an error or on
// the wire in clear text.
const (
	mailUser     = "deals@example.com"
	mailPassword = "s3cret-Pa55word"
)

// mailServer is a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1: STARTTLS, implicit TLS or plain, with AUTH PLAIN when it has
// users. It keeps what it accepts, what each session did, and every byte it
// read from the wire.
type mailServer struct {
	Addr string
	// CAFile is the PEM of the server's self-signed certificate.
	CAFile string

	users  map[string]string
	refuse func(rcpt string) error

	mu     sync.Mutex
	msgs   []serverMessage
	events []string
	wire   bytes.Buffer
}

type serverMessage struct {
	From string
	To   []string
	Data []byte
	TLS  bool
	User string
}

type mailServerOptions struct {
	// TLS: "starttls" offers STARTTLS, "implicit" speaks TLS from the first
	// byte, "" neither.
	TLS string
	// Users log in with AUTH PLAIN; then MAIL needs a login. Offered over
	// TLS, and without it too when InsecureAuth is set.
	Users        map[string]string
	InsecureAuth bool
	// Refuse answers RCPT TO for an address instead of accepting it.
	Refuse func(rcpt string) error
}

func startMailServer(t *testing.T, o mailServerOptions) *mailServer {
	t.Helper()
	cert, caFile := selfSigned(t)
	ms := &mailServer{CAFile: caFile, users: o.Users, refuse: o.Refuse}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		s := &session{ms: ms, conn: c}
		if ms.users != nil {
			return &authSession{s}, nil
		}
		return s, nil
	}))
	srv.Domain = "mail.test"
	srv.AllowInsecureAuth = o.InsecureAuth
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = serverLog{t}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.Addr = ln.Addr().String()
	var l net.Listener = &wiretap{Listener: ln, ms: ms}
	switch o.TLS {
	case "starttls":
		srv.TLSConfig = tlsConfig
	case "implicit":
		l = tls.NewListener(l, tlsConfig)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ms
}

type serverLog struct{ t *testing.T }

func (l serverLog) Printf(format string, v ...any) { l.t.Logf("smtp server: "+format, v...) }
func (l serverLog) Println(v ...any)               { l.t.Log(append([]any{"smtp server:"}, v...)...) }

func (ms *mailServer) event(e string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.events = append(ms.events, e)
}

func (ms *mailServer) received() []serverMessage {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]serverMessage(nil), ms.msgs...)
}

func (ms *mailServer) seen() (events []string, wire string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]string(nil), ms.events...), ms.wire.String()
}

// assertNoSecretOnWire fails when the password went over the wire in clear
// text, as itself or in an AUTH PLAIN or LOGIN exchange.
func (ms *mailServer) assertNoSecretOnWire(t *testing.T) {
	t.Helper()
	_, wire := ms.seen()
	for _, s := range []string{
		mailPassword,
		base64.StdEncoding.EncodeToString([]byte("\x00" + mailUser + "\x00" + mailPassword)),
		base64.StdEncoding.EncodeToString([]byte(mailPassword)),
	} {
		if strings.Contains(wire, s) {
			t.Fatalf("the password went over the wire in clear text:\n%s", wire)
		}
	}
}

// wiretap keeps the bytes the server reads, as they arrive (encrypted once
// TLS is on).
type wiretap struct {
	net.Listener
	ms *mailServer
}

func (w *wiretap) Accept() (net.Conn, error) {
	c, err := w.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tappedConn{Conn: c, ms: w.ms}, nil
}

type tappedConn struct {
	net.Conn
	ms *mailServer
}

func (c *tappedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.ms.mu.Lock()
	c.ms.wire.Write(b[:n])
	c.ms.mu.Unlock()
	return n, err
}

type session struct {
	ms       *mailServer
	conn     *gosmtp.Conn
	user     string
	from     string
	to       []string
	isTLS    bool
	loggedIn bool
}

type authSession struct{ *session }

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		s.ms.event("AUTH " + username)
		if want, ok := s.ms.users[username]; !ok || want != password {
			return gosmtp.ErrAuthFailed
		}
		s.user, s.loggedIn = username, true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	s.ms.event("MAIL " + from)
	if s.ms.users != nil && !s.loggedIn {
		return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	s.from, s.to = from, nil
	_, s.isTLS = s.conn.TLSConnectionState()
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.ms.event("RCPT " + to)
	if s.ms.refuse != nil {
		if err := s.ms.refuse(to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ms.event("DATA")
	s.ms.mu.Lock()
	s.ms.msgs = append(s.ms.msgs, serverMessage{From: s.from, To: s.to, Data: b, TLS: s.isTLS, User: s.user})
	s.ms.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost that is its
// own CA, and writes it as PEM for SMTP_CA_FILE.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "mail.test"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, file
}

// mailerFromEnv builds the mailer the way the worker does: the SMTP_*
// variables through internal/config.
func mailerFromEnv(t *testing.T, env map[string]string) *activities.SMTPMailer {
	t.Helper()
	r := config.NewReaderFrom(env)
	c := r.SMTP()
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	m, err := activities.NewSMTPMailer(activities.SMTPConfig{
		Addr: c.Addr, From: c.From, Username: c.Username, Password: c.Password, Auth: c.Auth,
		TLS: c.TLS, RootCAs: c.RootCAs, Timeout: c.Timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// env returns the settings of a mailer for ms with the tests' credentials,
// changed by kv (an empty value removes the variable).
func (ms *mailServer) env(kv ...string) map[string]string {
	m := map[string]string{
		config.SMTPAddr.Name:     ms.Addr,
		config.SMTPFrom.Name:     "Dealflow <" + mailUser + ">",
		config.SMTPUsername.Name: mailUser,
		config.SMTPPassword.Name: mailPassword,
		config.SMTPCAFile.Name:   ms.CAFile,
		config.SMTPTimeout.Name:  "5s",
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(m, kv[i])
		} else {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

var followUp = workflows.Message{
	Key: "lead/L7/thankyou", Kind: "thankyou", Recipient: "Ann Lee <ann@contoso.example>",
	Subject: "Merci pour votre commande",
	Body:    "Dear Ann,\nthank you for your order.\n.\nKind regards",
	At:      time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
}

// checkFollowUp checks what the server received of followUp: envelope,
// headers, body.
func checkFollowUp(t *testing.T, got serverMessage) {
	t.Helper()
	if got.From != mailUser || len(got.To) != 1 || got.To[0] != "ann@contoso.example" {
		t.Fatalf("envelope from %q to %v", got.From, got.To)
	}
	pm, err := mail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	header := func(k string) string {
		t.Helper()
		v, err := dec.DecodeHeader(pm.Header.Get(k))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return v
	}
	from, err := pm.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Dealflow" || from[0].Address != mailUser {
		t.Fatalf("From %q (%v)", pm.Header.Get("From"), err)
	}
	to, err := pm.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Ann Lee" || to[0].Address != "ann@contoso.example" {
		t.Fatalf("To %q (%v)", pm.Header.Get("To"), err)
	}
	want := map[string]string{
		"Subject":         followUp.Subject,
		"Date":            "Wed, 04 Mar 2026 05:06:07 +0000",
		"Message-ID":      activities.MessageID(followUp.Key, mailUser),
		"X-Dealflow-Key":  followUp.Key,
		"X-Dealflow-Kind": followUp.Kind,
	}
	for k, v := range want {
		if got := header(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if ct := pm.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(strings.ToLower(ct), "utf-8") {
		t.Errorf("Content-Type %q", ct)
	}
	if cte := pm.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Errorf("Content-Transfer-Encoding %q", cte)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(pm.Body))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimRight(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n"); got != followUp.Body {
		t.Errorf("body %q, want %q", got, followUp.Body)
	}
}

// Through a server that requires AUTH and offers STARTTLS: the default
// mode (STARTTLS, required) logs in over TLS, trusting the server through
// SMTP_CA_FILE, and the follow-up arrives once with its headers; sent again,
// it carries the same Message-ID.
func TestSMTPStartTLSAuth(t *testing.T) {
	ms := startMailServer(t, mailServerOptions{TLS: "starttls", Users: map[string]string{mailUser: mailPassword}})
	m := mailerFromEnv(t, ms.env())
	ctx := context.Background()
	delivery, err := m.Send(ctx, followUp)
	if err != nil {
		t.Fatal(err)
	}
	if delivery != activities.DeliverySMTP {
		t.Fatalf("delivery %q", delivery)
	}
	got := ms.received()
	if len(got) != 1 {
		t.Fatalf("%d messages received, want 1", len(got))
	}
	if !got[0].TLS || got[0].User != mailUser {
		t.Fatalf("message received with TLS %v, logged in as %q", got[0].TLS, got[0].User)
	}
	checkFollowUp(t, got[0])
	ms.assertNoSecretOnWire(t)

	if _, err := m.Send(ctx, followUp); err != nil {
		t.Fatal(err)
	}
	got = ms.received()
	if len(got) != 2 {
		t.Fatalf("%d messages received, want 2", len(got))
	}
	ids := [2]string{}
	for i, r := range got {
		pm, err := mail.ReadMessage(bytes.NewReader(r.Data))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = pm.Header.Get("Message-ID")
	}
	if ids[0] != ids[1] || ids[0] != activities.MessageID(followUp.Key, mailUser) {
		t.Fatalf("Message-IDs %v: the same follow-up must carry the same one", ids)
	}
}

// Implicit TLS (SMTPS, as on port 465): TLS from the first byte, then AUTH.
func TestSMTPImplicitTLS(t *testing.T) {
	ms := startMailServer(t, mailServerOptions{TLS: "implicit", Users: map[string]string{mailUser: mailPassword}})
	m := mailerFromEnv(t, ms.env(config.SMTPTLS.Name, "implicit"))
	if _, err := m.Send(context.Background(), followUp); err != nil {
		t.Fatal(err)
	}
	got := ms.received()
	if len(got) != 1 || !got[0].TLS || got[0].User != mailUser {
		t.Fatalf("received %d messages (%+v), want 1 over TLS from %s", len(got), got, mailUser)
	}
	checkFollowUp(t, got[0])
	_, wire := ms.seen()
	if strings.Contains(wire, "EHLO") || strings.Contains(wire, followUp.Subject) {
		t.Fatal("implicit TLS sent SMTP in clear text")
	}
}

// A server without STARTTLS (that would even take a password in clear
// text): the default mode refuses to go on, with a clear error that is
// retried, and sends neither the password nor the message.
func TestSMTPStartTLSRequired(t *testing.T) {
	ms := startMailServer(t, mailServerOptions{Users: map[string]string{mailUser: mailPassword}, InsecureAuth: true})
	for _, env := range []map[string]string{
		ms.env(config.SMTPCAFile.Name, ""),                                  // SMTP_TLS empty: STARTTLS on a port other than 465
		ms.env(config.SMTPCAFile.Name, "", config.SMTPTLS.Name, "starttls"), // asked for
		ms.env(config.SMTPCAFile.Name, "", config.SMTPUsername.Name, "", config.SMTPPassword.Name, ""),
	} {
		_, err := mailerFromEnv(t, env).Send(context.Background(), followUp)
		if err == nil {
			t.Fatal("sent without STARTTLS")
		}
		if errors.Is(err, activities.ErrUndeliverable) {
			t.Fatalf("a missing STARTTLS settles the message as failed: %v", err)
		}
		if !strings.Contains(err.Error(), "offers no STARTTLS") || !strings.Contains(err.Error(), "SMTP_TLS") {
			t.Fatalf("error does not say what is wrong: %v", err)
		}
	}
	events, wire := ms.seen()
	if len(ms.received()) != 0 || len(events) != 0 {
		t.Fatalf("the server saw %v", events)
	}
	if strings.Contains(wire, "AUTH") || strings.Contains(wire, "MAIL FROM") || strings.Contains(wire, followUp.Subject) {
		t.Fatalf("sent in clear text:\n%s", wire)
	}
	ms.assertNoSecretOnWire(t)
}

// Credentials the server refuses: a clear error naming the user (never the
// password), retried rather than settled as failed, and nothing sent.
func TestSMTPWrongCredentials(t *testing.T) {
	ms := startMailServer(t, mailServerOptions{TLS: "starttls", Users: map[string]string{mailUser: mailPassword}})
	_, err := mailerFromEnv(t, ms.env(config.SMTPPassword.Name, "not-the-password")).Send(context.Background(), followUp)
	if err == nil {
		t.Fatal("sent with the wrong password")
	}
	if errors.Is(err, activities.ErrUndeliverable) {
		t.Fatalf("refused credentials settle the message as failed: %v", err)
	}
	for _, want := range []string{"refused the credentials", mailUser, "SMTP_PASSWORD", "535"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "not-the-password") || strings.Contains(err.Error(), mailPassword) {
		t.Fatalf("error shows a password: %v", err)
	}
	if n := len(ms.received()); n != 0 {
		t.Fatalf("%d messages received", n)
	}
}

// What is retried and what is settled as failed for good.
func TestSMTPErrors(t *testing.T) {
	refuse := func(rcpt string) error {
		switch {
		case strings.HasPrefix(rcpt, "gone@"):
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case strings.HasPrefix(rcpt, "busy@"):
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		case strings.HasPrefix(rcpt, "relay@"):
			return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
		case strings.HasPrefix(rcpt, "denied@"):
			return &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
		}
		return nil
	}
	users := map[string]string{mailUser: mailPassword}
	tlsServer := startMailServer(t, mailServerOptions{TLS: "starttls", Users: users, Refuse: refuse})
	plainServer := startMailServer(t, mailServerOptions{})
	openServer := startMailServer(t, mailServerOptions{TLS: "starttls", Refuse: refuse}) // no AUTH
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	cases := []struct {
		name      string
		env       map[string]string
		rcpt      string
		permanent bool
		want      string
	}{
		{"recipient refused (5xx)", tlsServer.env(), "gone@example.com", true, "550"},
		{"not a mail address", tlsServer.env(), "rep1", true, "not a mail address"},
		{"recipient deferred (4xx)", tlsServer.env(), "busy@example.com", false, "451"},
		{"authentication required at RCPT", tlsServer.env(), "relay@example.com", false, "530"},
		{"relay denied without a login (5.7.1)", openServer.env(config.SMTPUsername.Name, "", config.SMTPPassword.Name, ""), "denied@example.com", false, "554"},
		{"policy refusal once logged in (5.7.1)", tlsServer.env(), "denied@example.com", true, "554"},
		{"no login where the server requires one", tlsServer.env(config.SMTPUsername.Name, "", config.SMTPPassword.Name, ""), "ann@example.com", false, "refused the sender"},
		{"certificate not trusted", tlsServer.env(config.SMTPCAFile.Name, ""), "ann@example.com", false, "SMTP_CA_FILE"},
		{"implicit TLS on a plain port", plainServer.env(config.SMTPTLS.Name, "implicit", config.SMTPUsername.Name, "", config.SMTPPassword.Name, ""), "ann@example.com", false, "does not answer in TLS"},
		{"nothing listening", tlsServer.env(config.SMTPAddr.Name, closed), "ann@example.com", false, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := followUp
			msg.Recipient = tc.rcpt
			_, err := mailerFromEnv(t, tc.env).Send(context.Background(), msg)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, activities.ErrUndeliverable) != tc.permanent {
				t.Fatalf("permanent = %v, want %v: %v", !tc.permanent, tc.permanent, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error lacks %q: %v", tc.want, err)
			}
			if strings.Contains(err.Error(), mailPassword) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
	if n := len(tlsServer.received()) + len(plainServer.received()); n != 0 {
		t.Fatalf("%d messages received", n)
	}
}

// A server that never answers: the delivery gives up after SMTP_TIMEOUT
// (retried), and at once when the activity is cancelled.
func TestSMTPTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, silent
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	env := map[string]string{config.SMTPAddr.Name: ln.Addr().String(), config.SMTPFrom.Name: mailUser, config.SMTPTimeout.Name: "300ms"}

	start := time.Now()
	_, err = mailerFromEnv(t, env).Send(context.Background(), followUp)
	if err == nil || errors.Is(err, activities.ErrUndeliverable) || !strings.Contains(err.Error(), "SMTP_TIMEOUT") {
		t.Fatalf("silent server: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("gave up after %s, want about 300ms", d)
	}

	env[config.SMTPTimeout.Name] = "1m"
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := mailerFromEnv(t, env).Send(ctx, followUp); err == nil || errors.Is(err, activities.ErrUndeliverable) ||
		!strings.Contains(err.Error(), "stopped with the activity") {
		t.Fatalf("cancelled: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the cancelled delivery returned after %s", d)
	}
}

// Through deliver and the outbox in PostgreSQL: while the server refuses
// the credentials, ApplyChange fails retryably and every message stays
// unsent (none is settled as failed, not even one the server would
// refuse); the next attempt with the right password delivers each once,
// settles the refused recipient as failed, and a later retry sends nothing
// more.
func TestDeliverRefusedCredentialsLoseNothing(t *testing.T) {
	pool := testenv.Pool(t)
	ctx := context.Background()
	ms := startMailServer(t, mailServerOptions{TLS: "starttls", Users: map[string]string{mailUser: mailPassword},
		Refuse: func(rcpt string) error {
			if strings.HasPrefix(rcpt, "gone@") {
				return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			}
			return nil
		}})
	bad := newActivities(t, pool, mailerFromEnv(t, ms.env(config.SMTPPassword.Name, "expired-password")))
	x := newDeal("C1", "Contoso", "ann@contoso.example")
	if _, err := bad.ApplyChange(ctx, x.change("create")); err != nil {
		t.Fatal(err)
	}
	ch := x.change("followup:stage-nudge")
	ch.Messages = []workflows.Message{
		{Key: "C1/thanks/1", Kind: "thankyou", Recipient: "Ann Lee <ann@contoso.example>", Subject: "Thank you", Body: "Dear Ann,\nthank you.", At: ch.Event.At},
		{Key: "C1/due/1", Kind: "invoice-due", Recipient: "gone@contoso.example", Subject: "Invoice due", Body: "Pay.", At: ch.Event.At},
	}
	unsent := `SELECT string_agg(key || ':' || (sent_at IS NULL)::text || ':' || coalesce(delivery, '-'), ',' ORDER BY key) FROM messages`
	for range 2 {
		_, err := bad.ApplyChange(ctx, ch)
		if err == nil {
			t.Fatal("ApplyChange succeeded with refused credentials")
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.NonRetryable() {
			t.Fatalf("refused credentials are not retried: %v", err)
		}
		if !strings.Contains(err.Error(), "refused the credentials") || strings.Contains(err.Error(), "expired-password") {
			t.Fatalf("error: %v", err)
		}
		if got := row[string](t, pool, unsent); got != "C1/due/1:true:-,C1/thanks/1:true:-" {
			t.Fatalf("outbox after a refused login: %s", got)
		}
	}
	if n := len(ms.received()); n != 0 {
		t.Fatalf("%d messages received without a login", n)
	}

	good := newActivities(t, pool, mailerFromEnv(t, ms.env()))
	for range 2 {
		if _, err := good.ApplyChange(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	got := ms.received()
	if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "ann@contoso.example" || !got[0].TLS {
		t.Fatalf("received %+v, want one message to ann@contoso.example over TLS", got)
	}
	pm, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if id := pm.Header.Get("Message-ID"); id != activities.MessageID("C1/thanks/1", mailUser) {
		t.Fatalf("Message-ID %q", id)
	}
	rows := row[string](t, pool, `SELECT string_agg(key || ':' || delivery || ':' || (error <> '')::text, ',' ORDER BY key) FROM messages WHERE sent_at IS NOT NULL`)
	if rows != "C1/due/1:failed:true,C1/thanks/1:smtp:false" {
		t.Fatalf("messages %s", rows)
	}
}
