// Package smtptest is a small SMTP server for tests: a mail server for
// SMTP_CHECK to probe, with a configurable greeting and HELO reply, and a
// sink that captures the alert mails ulvs sends. It speaks enough of RFC
// 5321 for both (HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT).
package smtptest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mail is one message the server accepted.
type Mail struct {
	Helo string
	From string
	To   []string
	// Data is the message as sent between DATA and the final dot, dot
	// stuffing removed, with CRLF line ends.
	Data string
}

// Server answers SMTP on the listeners given to Serve.
type Server struct {
	// Banner is the greeting, without CRLF; "220 smtptest ESMTP" if empty.
	// Lines separated by "\n" are sent as separate lines.
	Banner string
	// HeloReply answers HELO and EHLO; "250 smtptest" if empty.
	HeloReply string
	// Delay is waited before the greeting.
	Delay time.Duration

	once  sync.Once
	mu    sync.Mutex
	mails chan Mail
	helos []string
	lns   []net.Listener
	conns map[net.Conn]bool
}

// Run serves on a loopback port until the test ends and returns the
// address.
func (s *Server) Run(tb testing.TB) string {
	tb.Helper()
	addr, err := s.Start("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return addr.String()
}

// Start serves on a new listener (e.g. "tcp", "127.0.0.1:0") and returns
// its address; Close stops it.
func (s *Server) Start(network, addr string) (net.Addr, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	go s.Serve(ln)
	return ln.Addr(), nil
}

func (s *Server) init() {
	s.once.Do(func() {
		s.mails = make(chan Mail, 100)
		s.conns = map[net.Conn]bool{}
	})
}

// Mails delivers the accepted messages; it holds the last 100.
func (s *Server) Mails() <-chan Mail {
	s.init()
	return s.mails
}

// Helos returns the HELO/EHLO arguments received so far.
func (s *Server) Helos() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.helos...)
}

// Serve accepts connections on ln until it or the server is closed.
func (s *Server) Serve(ln net.Listener) {
	s.init()
	s.mu.Lock()
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		go s.session(c)
	}
}

// Close stops every listener and drops every open session.
func (s *Server) Close() {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ln := range s.lns {
		ln.Close()
	}
	s.lns = nil
	for c := range s.conns {
		c.Close()
	}
}

// sessionTimeout bounds one session, so a stuck client cannot leak it.
const sessionTimeout = 30 * time.Second

func (s *Server) session(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	c.SetDeadline(time.Now().Add(sessionTimeout))
	if s.Delay > 0 {
		time.Sleep(s.Delay)
	}
	w := bufio.NewWriter(c)
	reply := func(lines string) bool {
		for _, l := range strings.Split(lines, "\n") {
			fmt.Fprintf(w, "%s\r\n", l)
		}
		return w.Flush() == nil
	}
	if !reply(or(s.Banner, "220 smtptest ESMTP")) {
		return
	}
	r := bufio.NewReader(c)
	var m Mail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "HELO", "EHLO":
			s.mu.Lock()
			s.helos = append(s.helos, arg)
			s.mu.Unlock()
			m = Mail{Helo: arg}
			reply(or(s.HeloReply, "250 smtptest"))
		case "MAIL":
			m.From = strings.TrimPrefix(arg, "FROM:")
			reply("250 ok")
		case "RCPT":
			m.To = append(m.To, strings.TrimPrefix(arg, "TO:"))
			reply("250 ok")
		case "DATA":
			if !reply("354 go ahead") {
				return
			}
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			m.Data = b.String()
			select {
			case s.mails <- m:
			default: // full: the test reads what it needs
			}
			m = Mail{Helo: m.Helo}
			reply("250 queued")
		case "RSET":
			m = Mail{Helo: m.Helo}
			reply("250 ok")
		case "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("500 unknown command")
		}
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
