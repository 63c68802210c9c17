package health

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"
)

// SMTP is SMTP_CHECK: keepalived's dialogue with a mail server. The
// server is up when it greets with 220, answers HELO with 250, and
// answers QUIT (with anything).
type SMTP struct {
	Target netip.AddrPort
	Bind   netip.AddrPort
	Helo   string
	// Step bounds the connect and each read and write, as keepalived's
	// connect_timeout does; the probe's context bounds the whole.
	Step time.Duration
}

// smtpSteps is the number of timed steps of the dialogue: connect, read
// the banner, write HELO, read its reply, write QUIT, read its reply.
const smtpSteps = 6

// maxSMTPLine and maxSMTPLines bound what a server can make the checker
// read: replies are untrusted input.
const (
	maxSMTPLine  = 1024
	maxSMTPLines = 64
)

// Probe runs the dialogue once. A failure is an *SMTPError.
func (s *SMTP) Probe(ctx context.Context) Result {
	if err := s.dialogue(ctx); err != nil {
		return Result{Err: err, Weight: -1}
	}
	return Result{Weight: -1}
}

// SMTPError is an SMTP_CHECK failure: keepalived's sentence (which its
// alert mail quotes) and what exactly went wrong.
type SMTPError struct {
	// Keepalived is keepalived's wording, e.g. "Bad greeting banner from
	// server [10.0.1.1]:25".
	Keepalived string
	Err        error
}

func (e *SMTPError) Error() string { return "SMTP_CHECK: " + e.Keepalived + ": " + e.Err.Error() }
func (e *SMTPError) Unwrap() error { return e.Err }

func (s *SMTP) dialogue(ctx context.Context) error {
	pair := fmt.Sprintf("[%s]:%d", s.Target.Addr(), s.Target.Port())
	fail := func(what string, err error) error { return &SMTPError{Keepalived: what + " " + pair, Err: err} }
	// ioFail words a failed read or write the way keepalived does.
	ioFail := func(read bool, what string, err error) error {
		var ne net.Error
		timeout := errors.As(err, &ne) && ne.Timeout()
		switch {
		case read && timeout:
			return fail("Read timeout from server", fmt.Errorf("%s: timed out", what))
		case read:
			return fail("Read failure from server", fmt.Errorf("%s: %w", what, err))
		case timeout:
			return fail("Write timeout to server", fmt.Errorf("%s: timed out", what))
		}
		return fail("Write failure to server", fmt.Errorf("%s: %w", what, err))
	}
	step := s.Step
	if step <= 0 {
		step = 5 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, step)
	c, err := dial(sctx, "tcp", s.Bind, s.Target)
	timedOut := sctx.Err() != nil
	cancel()
	if err != nil {
		if timedOut {
			return fail("Connection timeout to server", err)
		}
		return fail("Error connecting to server", err)
	}
	defer c.Close()
	// The context's end (a reload, shutdown or the probe's deadline)
	// interrupts a blocked read or write.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	deadline := func() {
		dl := time.Now().Add(step)
		if d, ok := ctx.Deadline(); ok && d.Before(dl) {
			dl = d
		}
		c.SetDeadline(dl)
	}
	write := func(line string) error {
		deadline()
		_, err := c.Write([]byte(line))
		return err
	}
	r := bufio.NewReaderSize(c, maxSMTPLine)
	deadline()
	if code, line, err := readReply(r); err != nil {
		return ioFail(true, "the greeting", err)
	} else if code != 220 {
		return fail("Bad greeting banner from server", fmt.Errorf("%q, want 220", line))
	}
	if err := write("HELO " + s.Helo + "\r\n"); err != nil {
		return ioFail(false, "HELO", err)
	}
	deadline()
	if code, line, err := readReply(r); err != nil {
		return ioFail(true, "the HELO reply", err)
	} else if code != 250 {
		return fail("Bad HELO response from server", fmt.Errorf("%q, want 250", line))
	}
	if err := write("QUIT\r\n"); err != nil {
		return ioFail(false, "QUIT", err)
	}
	deadline()
	// keepalived only needs an answer to QUIT, whatever its code.
	if _, _, err := readLine(r); err != nil {
		return ioFail(true, "the QUIT reply", err)
	}
	return nil
}

// readReply reads one reply, following "250-" continuation lines (RFC
// 5321 4.2.1), and returns its code and last line. A line that does not
// start with three digits and a space, a dash or its end has code -1.
func readReply(r *bufio.Reader) (int, string, error) {
	for range maxSMTPLines {
		code, line, err := readLine(r)
		if err != nil {
			return 0, line, err
		}
		if code < 0 || len(line) < 4 || line[3] != '-' {
			return code, line, nil
		}
	}
	return 0, "", fmt.Errorf("more than %d continuation lines", maxSMTPLines)
}

// readLine reads one line (up to LF; a longer one than maxSMTPLine is an
// error) and parses its status code.
func readLine(r *bufio.Reader) (int, string, error) {
	b, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return 0, "", fmt.Errorf("line longer than %d bytes", maxSMTPLine)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // closed mid-dialogue
		}
		return 0, string(b), err
	}
	line := string(trimEOL(b))
	return replyCode(line), line, nil
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// replyCode is the status code at the start of line, or -1.
func replyCode(line string) int {
	if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
		return -1
	}
	code := 0
	for i := range 3 {
		ch := line[i]
		if ch < '0' || ch > '9' {
			return -1
		}
		code = code*10 + int(ch-'0')
	}
	return code
}
