package health

import (
	"context"
	"net"
	"net/netip"
)

// TCP is TCP_CHECK: the server is up when a TCP connection to Target
// completes within the timeout.
type TCP struct {
	Target netip.AddrPort
	Bind   netip.AddrPort // zero: the kernel picks the source
}

// Probe connects and closes at once.
func (t *TCP) Probe(ctx context.Context) Result {
	c, err := dial(ctx, "tcp", t.Bind, t.Target)
	if err != nil {
		return Result{Err: err, Weight: -1}
	}
	c.Close()
	return Result{Weight: -1}
}

// dial connects from bind (when set) to target before ctx's deadline.
func dial(ctx context.Context, network string, bind, target netip.AddrPort) (net.Conn, error) {
	var d net.Dialer
	if bind.Addr().IsValid() || bind.Port() != 0 {
		if network == "tcp" {
			d.LocalAddr = net.TCPAddrFromAddrPort(bind)
		} else {
			d.LocalAddr = net.UDPAddrFromAddrPort(bind)
		}
	}
	return d.DialContext(ctx, network, target.String())
}
