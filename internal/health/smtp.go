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

// Probe runs the dialogue once.
func (s *SMTP) Probe(ctx context.Context) Result {
	if err := s.dialogue(ctx); err != nil {
		return Result{Err: fmt.Errorf("SMTP %s: %w", s.Target, err), Weight: -1}
	}
	return Result{Weight: -1}
}

func (s *SMTP) dialogue(ctx context.Context) error {
	step := s.Step
	if step <= 0 {
		step = 5 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, step)
	c, err := dial(sctx, "tcp", s.Bind, s.Target)
	cancel()
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
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
	r := bufio.NewReaderSize(c, maxSMTPLine)
	deadline()
	if code, line, err := readReply(r); err != nil {
		return fmt.Errorf("reading the greeting: %w", err)
	} else if code != 220 {
		return fmt.Errorf("bad greeting banner %q (want 220)", line)
	}
	deadline()
	if _, err := io.WriteString(c, "HELO "+s.Helo+"\r\n"); err != nil {
		return fmt.Errorf("sending HELO: %w", err)
	}
	deadline()
	if code, line, err := readReply(r); err != nil {
		return fmt.Errorf("reading the HELO reply: %w", err)
	} else if code != 250 {
		return fmt.Errorf("bad HELO response %q (want 250)", line)
	}
	deadline()
	if _, err := io.WriteString(c, "QUIT\r\n"); err != nil {
		return fmt.Errorf("sending QUIT: %w", err)
	}
	deadline()
	// keepalived only needs an answer to QUIT, whatever its code.
	if _, _, err := readLine(r); err != nil {
		return fmt.Errorf("reading the QUIT reply: %w", err)
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
			err = io.ErrUnexpectedEOF
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = errors.New("timed out")
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
