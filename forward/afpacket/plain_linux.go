package afpacket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// plainRcvBuf is the plain port's socket receive buffer: the default 212 KB
// holds only a few hundred minimum-size frames.
const plainRcvBuf = 4 << 20

// auxSpace is the control buffer for one PACKET_AUXDATA message.
var auxSpace = unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{})))

// PlainPort is a Conn with one syscall per frame: recvmsg with
// PACKET_AUXDATA (for the same checksum and VLAN information a ring gives)
// and write(2), through github.com/mdlayher/packet and the Go netpoller. It
// works without ring support and is easy to trace; expect about a third of a
// RingPort's rate. Buffers are preallocated: Receive and Flush make no
// allocations while frames flow. See Conn for the concurrency rules.
type PlainPort struct {
	conn *packet.Conn
	rc   syscall.RawConn

	// RX: one buffer, msghdr, iovec, address and control buffer per frame.
	rxBufs    [][]byte
	msgs      []unix.Msghdr
	iovs      []unix.Iovec
	names     []unix.RawSockaddrLinklayer
	ctrl      []byte
	frames    []Frame // the caller's slice during Receive
	want, got int
	rxErr     error
	readFn    func(fd uintptr) bool
	filterOut bool
	poll      time.Duration

	// TX: committed frames wait in txBufs[:txN] until Flush.
	txBufs   [][]byte
	txLens   []int
	txN      int
	txSent   int
	txMax    int
	writeFn  func(fd uintptr) bool
	features Features

	closed atomic.Bool
	stats  counters
	statMu sync.Mutex
}

// OpenPlain opens a PlainPort on interface ifname (in the calling thread's
// network namespace), bound to every EtherType like a RingPort.
func OpenPlain(ifname string, cfg *Config) (*PlainPort, error) {
	c := cfg.withDefaults()
	if err := c.validate(os.Getpagesize()); err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("afpacket: interface %q: %w", ifname, err)
	}
	conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
	if err != nil {
		return nil, fmt.Errorf("afpacket: plain socket on %q: %w (needs CAP_NET_RAW)", ifname, err)
	}
	p := &PlainPort{conn: conn, poll: c.PollTimeout}
	if p.rc, err = conn.SyscallConn(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("afpacket: plain socket on %q: %w", ifname, err)
	}
	if err := p.setup(ifname, &c); err != nil {
		conn.Close()
		return nil, err
	}
	p.txMax = c.FrameSize
	if m := ifi.MTU + ethHeaderLen + vlanHeaderLen; m < p.txMax {
		p.txMax = m
	}
	n := c.PlainBatch
	p.rxBufs, p.txBufs, p.txLens = make([][]byte, n), make([][]byte, n), make([]int, n)
	p.msgs, p.iovs = make([]unix.Msghdr, n), make([]unix.Iovec, n)
	p.names, p.ctrl = make([]unix.RawSockaddrLinklayer, n), make([]byte, n*auxSpace)
	for i := range n {
		p.rxBufs[i] = make([]byte, c.FrameSize)
		p.txBufs[i] = make([]byte, c.FrameSize)
		p.iovs[i].Base = &p.rxBufs[i][0]
		p.iovs[i].SetLen(c.FrameSize)
		m := &p.msgs[i]
		m.Name = (*byte)(unsafe.Pointer(&p.names[i]))
		m.Iov = &p.iovs[i]
		m.SetIovlen(1)
		m.Control = &p.ctrl[i*auxSpace]
	}
	p.readFn, p.writeFn = p.readBatch, p.writeBatch
	return p, nil
}

// setup applies the socket options a RingPort also uses.
func (p *PlainPort) setup(ifname string, c *Config) error {
	var firstErr error
	err := p.rc.Control(func(fd uintptr) {
		s := int(fd)
		if err := setsockoptInt(s, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			firstErr = setupError(ifname, "PACKET_AUXDATA", err)
			return
		}
		if err := setsockoptInt(s, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err == nil {
			p.features.IgnoreOutgoing = true
		} else {
			p.filterOut = true
		}
		if !c.NoQdiscBypass && setsockoptInt(s, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1) == nil {
			p.features.QdiscBypass = true
		}
		if setsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, plainRcvBuf) != nil {
			_ = setsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, plainRcvBuf)
		}
		if c.FanoutGroup != 0 {
			arg := fanoutArg(c, p.features.IgnoreOutgoing)
			if err := setsockoptInt(s, unix.SOL_PACKET, unix.PACKET_FANOUT, arg); err != nil {
				firstErr = fmt.Errorf("afpacket: join fanout group %d on %q: %w", c.FanoutGroup, ifname, err)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("afpacket: plain socket on %q: %w", ifname, err)
	}
	return firstErr
}

// Features reports which optional kernel features the port uses.
func (p *PlainPort) Features() Features { return p.features }

// Receive implements Conn: it waits for the first frame, then takes what
// else is queued without waiting, up to Config.PlainBatch frames.
func (p *PlainPort) Receive(frames []Frame) (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	p.frames, p.got, p.rxErr = frames, 0, nil
	p.want = min(len(frames), len(p.rxBufs))
	if err := p.conn.SetReadDeadline(time.Now().Add(p.poll)); err != nil {
		return 0, p.closedOr(err)
	}
	err := p.rc.Read(p.readFn)
	n := p.got
	p.frames = nil
	if n > 0 {
		p.stats.rxFrames.Add(uint64(n))
		p.stats.rxBatches.Add(1)
		return n, nil
	}
	if err == nil {
		err = p.rxErr
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	return 0, p.closedOr(err)
}

// closedOr maps any error after Close to ErrClosed.
func (p *PlainPort) closedOr(err error) error {
	if p.closed.Load() {
		return ErrClosed
	}
	return fmt.Errorf("afpacket: plain port: %w", err)
}

// readBatch runs inside the netpoller's read callback: false means "nothing
// yet, wait for the socket to become readable".
func (p *PlainPort) readBatch(fd uintptr) bool {
	for p.got < p.want {
		i := p.got
		m := &p.msgs[i]
		m.Namelen = unix.SizeofSockaddrLinklayer
		m.SetControllen(auxSpace)
		m.Flags = 0
		r, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(m)), unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return p.got > 0
		default:
			p.rxErr = errno
			return true
		}
		if p.filterOut && p.names[i].Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		f := &p.frames[i]
		f.Data = p.rxBufs[i][:min(int(r), len(p.rxBufs[i]))]
		f.Len = uint32(r)
		f.Flags, f.VLANTCI, f.VLANTPID = 0, 0, 0
		if m.Controllen >= uint64(auxSpace) {
			ctl := p.ctrl[i*auxSpace : (i+1)*auxSpace]
			h := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
			if h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA {
				aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&ctl[unix.CmsgLen(0)]))
				status := Flags(aux.Status)
				f.Flags = status & frameFlagsMask
				f.Len = aux.Len
				if status&FlagVLAN != 0 {
					f.VLANTCI, f.VLANTPID = aux.Vlan_tci, 0x8100
					if status&flagVLANTPIDValid != 0 {
						f.VLANTPID = aux.Vlan_tpid
					}
				}
			}
		}
		p.got++
	}
	return true
}

// Release implements Conn; the plain port's buffers are reused by the next
// Receive.
func (p *PlainPort) Release() {}

// TxSlot implements Conn. With PlainBatch frames committed it flushes first.
func (p *PlainPort) TxSlot() []byte {
	if p.txN == len(p.txBufs) {
		_ = p.Flush()
		if p.txN == len(p.txBufs) {
			p.stats.txRingFull.Add(1)
			return nil
		}
	}
	return p.txBufs[p.txN][:p.txMax]
}

// Commit implements Conn.
func (p *PlainPort) Commit(n int) {
	if n < ethHeaderLen || n > p.txMax {
		p.stats.txBadLength.Add(1)
		return
	}
	p.txLens[p.txN] = n
	p.txN++
}

// Flush implements Conn with one write(2) per committed frame. Frames the
// kernel refuses (ENOBUFS, ENETDOWN) are counted in TxErrors and dropped.
func (p *PlainPort) Flush() error {
	if p.txN == 0 {
		return nil
	}
	if p.closed.Load() {
		return ErrClosed
	}
	p.txSent = 0
	if err := p.conn.SetWriteDeadline(time.Now().Add(p.poll)); err != nil {
		return p.closedOr(err)
	}
	err := p.rc.Write(p.writeFn)
	p.stats.txFlushes.Add(1)
	if p.txSent < p.txN {
		p.stats.txErrors.Add(uint64(p.txN - p.txSent))
	}
	p.txN = 0
	if err != nil {
		return p.closedOr(err)
	}
	return nil
}

func (p *PlainPort) writeBatch(fd uintptr) bool {
	for p.txSent < p.txN {
		b := p.txBufs[p.txSent][:p.txLens[p.txSent]]
		_, _, errno := unix.Syscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch errno {
		case 0:
			p.stats.txFrames.Add(1)
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			p.stats.txErrors.Add(1)
		}
		p.txSent++
	}
	return true
}

// Stats implements Conn.
func (p *PlainPort) Stats() Stats {
	p.statMu.Lock()
	defer p.statMu.Unlock()
	if !p.closed.Load() {
		if st, err := p.conn.Stats(); err == nil {
			p.stats.kernelRx.Add(uint64(st.Packets))
			p.stats.ringDrops.Add(uint64(st.Drops))
		}
	}
	return p.stats.snapshot()
}

// Close implements Conn; a Receive blocked in another goroutine returns
// net.ErrClosed.
func (p *PlainPort) Close() error {
	p.statMu.Lock()
	if p.closed.Load() {
		p.statMu.Unlock()
		return nil
	}
	if st, err := p.conn.Stats(); err == nil {
		p.stats.kernelRx.Add(uint64(st.Packets))
		p.stats.ringDrops.Add(uint64(st.Drops))
	}
	p.closed.Store(true)
	p.statMu.Unlock()
	return p.conn.Close()
}
