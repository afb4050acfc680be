package chaos

import (
	"bufio"
	"mime"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// mailSink is a small SMTP server the worker delivers follow-ups to: it
// counts every message it accepts by its X-Dealflow-Key, so a follow-up sent
// twice shows up here even when the outbox says once.
type mailSink struct {
	ln net.Listener
	wg sync.WaitGroup

	mu         sync.Mutex
	deliveries map[string][]delivery // by idempotency key
}

// delivery is one message the sink accepted.
type delivery struct {
	MessageID string
	To        string
	At        time.Time
}

func startMailSink() (*mailSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &mailSink{ln: ln, deliveries: map[string][]delivery{}}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(c) })
		}
	})
	return s, nil
}

func (s *mailSink) Addr() string { return s.ln.Addr().String() }

func (s *mailSink) Close() {
	s.ln.Close()
	s.wg.Wait()
}

// byKey returns the deliveries of every key.
func (s *mailSink) byKey() map[string][]delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]delivery, len(s.deliveries))
	for k, v := range s.deliveries {
		out[k] = append([]delivery(nil), v...)
	}
	return out
}

func (s *mailSink) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	tp := textproto.NewConn(c)
	reply := func(line string) { _ = tp.PrintfLine("%s", line) }
	reply("220 sink.chaos.test ESMTP")
	var to string
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		switch strings.ToUpper(strings.Fields(line + " ")[0]) {
		case "EHLO":
			reply("250-sink.chaos.test")
			reply("250 8BITMIME")
		case "HELO", "NOOP", "RSET", "MAIL":
			reply("250 OK")
		case "RCPT":
			_, v, _ := strings.Cut(line, ":")
			to = strings.Trim(strings.TrimSpace(v), "<>")
			reply("250 OK")
		case "DATA":
			reply("354 go ahead")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			msg, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(string(data))))
			if err != nil {
				reply("554 unreadable message")
				continue
			}
			key := msg.Header.Get("X-Dealflow-Key")
			if dec, err := new(mime.WordDecoder).DecodeHeader(key); err == nil {
				key = dec
			}
			s.mu.Lock()
			s.deliveries[key] = append(s.deliveries[key], delivery{MessageID: msg.Header.Get("Message-ID"), To: to, At: time.Now()})
			s.mu.Unlock()
			reply("250 OK queued")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}
