package health

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/ulvs/ulvs/forward/header"
)

// Ping is PING_CHECK: one ICMP echo request, up when the matching reply
// arrives in time. It uses a raw socket when allowed (root or
// CAP_NET_RAW), else an unprivileged ICMP datagram socket
// (net.ipv4.ping_group_range).
type Ping struct {
	Target netip.Addr
	Bind   netip.Addr
}

var pingSeq atomic.Uint32

// Probe sends one echo request and waits for its reply.
func (p *Ping) Probe(ctx context.Context) Result {
	if !p.Target.Is4() {
		return Result{Err: errors.New("PING_CHECK supports IPv4 targets only"), Weight: -1}
	}
	c, raw, err := p.listen()
	if err != nil {
		return Result{Err: err, Weight: -1}
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	seq := uint16(pingSeq.Add(1))
	id := uint16(os.Getpid())
	msg := echoRequest(id, seq, []byte("ulvs PING_CHECK"))
	dst := net.Addr(&net.IPAddr{IP: p.Target.AsSlice()})
	if !raw {
		dst = &net.UDPAddr{IP: p.Target.AsSlice()}
	}
	if _, err := c.WriteTo(msg, dst); err != nil {
		return Result{Err: err, Weight: -1}
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return Result{Err: fmt.Errorf("no echo reply: %w", err), Weight: -1}
		}
		if addrOf(from) != p.Target {
			continue
		}
		b := buf[:n]
		if len(b) < 8 || b[0] != 0 { // echo reply
			if len(b) >= 1 && b[0] == 3 {
				return Result{Err: errors.New("destination unreachable"), Weight: -1}
			}
			continue
		}
		// Datagram sockets rewrite the identifier to their port; match on
		// the sequence number there.
		if binary.BigEndian.Uint16(b[6:]) != seq || (raw && binary.BigEndian.Uint16(b[4:]) != id) {
			continue
		}
		return Result{Weight: -1}
	}
}

func (p *Ping) listen() (net.PacketConn, bool, error) {
	bind := "0.0.0.0"
	if p.Bind.IsValid() {
		bind = p.Bind.String()
	}
	if c, err := net.ListenPacket("ip4:icmp", bind); err == nil {
		return c, true, nil
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_ICMP)
	if err != nil {
		return nil, false, fmt.Errorf("no ICMP socket (need CAP_NET_RAW or net.ipv4.ping_group_range): %w", err)
	}
	if p.Bind.IsValid() {
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: p.Bind.As4()}); err != nil {
			syscall.Close(fd)
			return nil, false, err
		}
	}
	f := os.NewFile(uintptr(fd), "icmp")
	defer f.Close()
	c, err := net.FilePacketConn(f)
	return c, false, err
}

func addrOf(a net.Addr) netip.Addr {
	switch v := a.(type) {
	case *net.IPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip.Unmap()
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// echoRequest builds an ICMP echo request with its checksum.
func echoRequest(id, seq uint16, data []byte) []byte {
	b := make([]byte, header.ICMPHeaderLen+len(data))
	copy(b[header.ICMPHeaderLen:], data)
	header.ICMPv4(b).EncodeEcho(header.ICMPEcho, id, seq)
	return b
}
