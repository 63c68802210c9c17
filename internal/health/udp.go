package health

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"github.com/ulvs/ulvs/internal/config"
)

// UDP is UDP_CHECK: send Payload to the target. Without RequireReply the
// server is up unless an ICMP error (port unreachable) comes back within
// the timeout; with it, a reply must arrive and match the pattern.
type UDP struct {
	Target netip.AddrPort
	Bind   netip.AddrPort
	Conf   config.UDPCheck
}

// Probe sends one datagram and waits for an answer or the deadline.
func (u *UDP) Probe(ctx context.Context) Result {
	c, err := dial(ctx, "udp", u.Bind, u.Target)
	if err != nil {
		return Result{Err: err, Weight: -1}
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := c.Write(u.Conf.Payload); err != nil {
		return Result{Err: err, Weight: -1}
	}
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Result{Err: fmt.Errorf("port unreachable"), Weight: -1}
	case errors.Is(err, os.ErrDeadlineExceeded):
		if u.Conf.RequireReply == nil && u.Conf.MinReplyLength == 0 {
			return Result{Weight: -1}
		}
		return Result{Err: fmt.Errorf("no reply"), Weight: -1}
	case err != nil:
		return Result{Err: err, Weight: -1}
	}
	return Result{Err: u.match(buf[:n]), Weight: -1}
}

func (u *UDP) match(reply []byte) error {
	if u.Conf.MinReplyLength > 0 && len(reply) < u.Conf.MinReplyLength {
		return fmt.Errorf("reply of %d bytes, shorter than min_reply_length %d", len(reply), u.Conf.MinReplyLength)
	}
	if u.Conf.MaxReplyLength > 0 && len(reply) > u.Conf.MaxReplyLength {
		return fmt.Errorf("reply of %d bytes, longer than max_reply_length %d", len(reply), u.Conf.MaxReplyLength)
	}
	want := u.Conf.RequireReply
	if len(reply) < len(want) {
		return fmt.Errorf("reply of %d bytes, shorter than require_reply", len(reply))
	}
	for i, w := range want {
		if reply[i]&u.Conf.ReplyMask[i] != w&u.Conf.ReplyMask[i] {
			return fmt.Errorf("reply differs from require_reply at byte %d", i)
		}
	}
	return nil
}
