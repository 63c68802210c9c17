package alert

import (
	"context"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// keepalived's limits (smtp.h MAX_HEADERS_LENGTH, MAX_BODY_LENGTH).
const (
	maxSubject = 255
	maxBody    = 511
)

// send delivers ml with keepalived's dialogue: HELO, MAIL FROM, one RCPT
// TO per recipient, DATA, QUIT. Each step has cfg.Timeout.
func send(ctx context.Context, cfg *Config, ml Mail) error {
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	var d net.Dialer
	c, err := d.DialContext(dctx, "tcp", cfg.Server)
	cancel()
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	tc := textproto.NewConn(c)
	step := func(expect int, format string, args ...any) error {
		dl := time.Now().Add(cfg.Timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(dl) {
			dl = d
		}
		c.SetDeadline(dl)
		if format != "" {
			if err := tc.PrintfLine(format, args...); err != nil {
				return err
			}
		}
		_, _, err := tc.ReadResponse(expect)
		return err
	}
	if err := step(220, ""); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if err := step(250, "HELO %s", oneLine(cfg.Helo)); err != nil {
		return fmt.Errorf("HELO: %w", err)
	}
	if err := step(250, "MAIL FROM:%s", angle(cfg.From)); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	for _, to := range cfg.To {
		if err := step(250, "RCPT TO:%s", angle(to)); err != nil {
			return fmt.Errorf("RCPT %s: %w", to, err)
		}
	}
	if err := step(354, "DATA"); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	c.SetDeadline(time.Now().Add(cfg.Timeout))
	if _, err := c.Write(message(cfg, ml)); err != nil {
		return fmt.Errorf("sending the message: %w", err)
	}
	if err := step(250, ""); err != nil {
		return fmt.Errorf("message refused: %w", err)
	}
	// The mail is accepted; an unanswered QUIT does not undo it.
	step(221, "QUIT")
	return nil
}

// angle is an address as MAIL FROM and RCPT TO want it: the <...> part
// of "Name <a@b>", or the address in angle brackets.
func angle(addr string) string {
	addr = oneLine(addr)
	if strings.HasSuffix(addr, ">") {
		if i := strings.LastIndexByte(addr, '<'); i >= 0 {
			return addr[i:]
		}
	}
	return "<" + addr + ">"
}

// message is the DATA of ml, keepalived's headers and layout, ending
// with the lone dot; lines of the body starting with a dot are doubled
// (RFC 5321 4.5.2).
func message(cfg *Config, ml Mail) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Date: %s\r\nFrom: %s\r\nSubject: %s\r\nX-Mailer: Keepalived (ulvs)\r\nTo:",
		ml.Time.Format("Mon, 02 Jan 2006 15:04:05 -0700"), oneLine(cfg.From), truncate(oneLine(ml.Subject), maxSubject))
	for i, to := range cfg.To {
		if i > 0 {
			b.WriteString(",\r\n")
		}
		b.WriteString(" " + oneLine(to))
	}
	b.WriteString("\r\n\r\n")
	body := strings.ReplaceAll(truncate(ml.Body, maxBody), "\r\n", "\n")
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, ".") {
			l = "." + l
		}
		b.WriteString(strings.ReplaceAll(l, "\r", " ") + "\r\n")
	}
	b.WriteString("\r\n.\r\n")
	return []byte(b.String())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
