package forward

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward/afpacket"
	"github.com/ulvs/ulvs/forward/neigh"
	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/netns/netnstest"
)

// TestLoneDatagramLatency sends single UDP datagrams, one at a time, to an
// idle director (a Loop in NAT mode on rings, in the standard namespace
// topology) and measures how long each takes to reach the real server. The
// reference is the kernel path of the same length in the same test: the
// client sends the same datagram straight to the real server through the
// gateway namespace, which forwards it in the kernel. Rounds alternate the
// two, so load on the machine hits both alike; the real server's kernel
// receive timestamp (SO_TIMESTAMPNS) ends each measurement, so the test's
// own wakeups do not count.
//
// The same loop on a TPACKET_V3 RX ring (1 ms block timer) is the control:
// it must show the timer, or the test could not tell the two rings apart.
// The assertion is relative: the director's extra latency over the kernel
// path, in the median, must be under half the V3 ring's.
func TestLoneDatagramLatency(t *testing.T) {
	env := netnstest.ForTest(t)
	lvs, err := netns.NewLVS(env, netns.Options{Reals: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := lvs.ConfigureReals(balancer.NAT); err != nil {
		t.Fatal(err)
	}
	rs := lvs.Reals[0]
	realIP := rs.Dev.Addr.Addr()
	const port = 5300

	var rx *net.UDPConn
	if err := rs.NS.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: realIP.AsSlice(), Port: port})
		if err != nil {
			return err
		}
		rx = c
		return setTimestampNS(c)
	}); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	var tx *net.UDPConn
	if err := lvs.Client.NS.Do(func() error {
		c, err := net.ListenUDP("udp4", nil)
		tx = c
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	direct := &net.UDPAddr{IP: realIP.AsSlice(), Port: port}
	viaVIP := &net.UDPAddr{IP: lvs.VIP.AsSlice(), Port: port}

	// The kernel path's first datagram waits for the gateway's ARP.
	if _, err := sendOne(tx, rx, direct, 1); err != nil {
		t.Fatalf("kernel path: %v", err)
	}
	const rounds = 21
	var kernel []time.Duration
	results := map[int][]time.Duration{}
	for _, version := range []int{2, 3} {
		stop := startLatencyLoop(t, lvs, realIP, port, version)
		// The first datagrams through the director wait for the client's
		// ARP for the VIP; they are not measured.
		for i := range 3 {
			if _, err := sendOne(tx, rx, viaVIP, uint32(1000*version+i)); err != nil {
				stop()
				t.Fatalf("warmup through the director (RX ring V%d): %v", version, err)
			}
		}
		for i := range rounds {
			seq := uint32(100000*version + 10*i)
			k, err := sendOne(tx, rx, direct, seq)
			if err != nil {
				stop()
				t.Fatalf("kernel path: %v", err)
			}
			d, err := sendOne(tx, rx, viaVIP, seq+1)
			if err != nil {
				stop()
				t.Fatalf("through the director (RX ring V%d): %v", version, err)
			}
			kernel = append(kernel, k)
			results[version] = append(results[version], d)
		}
		stop()
	}
	k, v2, v3 := median(kernel), median(results[2]), median(results[3])
	t.Logf("one-way latency, median of %d: kernel path %v, director on a V2 RX ring %v, on a V3 RX ring %v",
		rounds, k, v2, v3)
	t.Logf("every round: kernel %v\nV2 %v\nV3 %v", kernel, results[2], results[3])
	extra2, extra3 := v2-k, v3-k
	if extra3 < afpacket.DefaultBlockTimeout/8 {
		t.Fatalf("the V3 control added only %v over the kernel path: the measurement cannot see a block timer of %v",
			extra3, afpacket.DefaultBlockTimeout)
	}
	if extra2 >= extra3/2 {
		t.Errorf("a lone datagram through the director on its default RX ring took %v more than the kernel path (median); "+
			"the V3 ring with its block timer took %v more: the default ring must hand frames over at once",
			extra2, extra3)
	}
}

// startLatencyLoop runs a NAT Loop in the director namespace, with the
// given RX ring version, for one UDP service on the VIP; stop ends it.
func startLatencyLoop(t *testing.T, lvs *netns.LVS, realIP netip.Addr, port uint16, rxVersion int) (stop func()) {
	t.Helper()
	tab, err := balancer.NewTable(nil, []balancer.ServiceConfig{{
		Key:       balancer.ServiceKey{Addr: lvs.VIP, Port: port, Proto: balancer.UDP},
		Scheduler: "rr",
		Reals:     []balancer.RealConfig{{Addr: realIP, Port: port, Method: balancer.NAT, Weight: 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var table atomic.Pointer[balancer.Table]
	table.Store(tab)
	dir, err := conntrack.New(conntrack.Config{MaxConns: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	port4 := func(i netns.Iface, static map[[4]byte][6]byte) *Port {
		return &Port{Name: i.Name, Index: i.Index, MAC: [6]byte(i.MAC), MTU: 1500, Addr: i.Addr.Addr().As4(),
			Prefixes: []netip.Prefix{i.Addr.Masked()}, Neigh: neigh.New(neigh.Config{Static: static})}
	}
	client := port4(lvs.Front, map[[4]byte][6]byte{lvs.Client.Dev.Addr.Addr().As4(): [6]byte(lvs.Client.Dev.MAC)})
	reals := port4(lvs.Back, map[[4]byte][6]byte{realIP.As4(): [6]byte(lvs.Reals[0].Dev.MAC)})
	vips := new(neigh.VIPSet)
	vips.Claim(lvs.VIP.As4())
	var loop *Loop
	if err := lvs.Director.Do(func() error {
		loop, err = NewLoop(LoopConfig{Client: client, Reals: reals, Table: &table, Tracker: dir, VIPs: vips,
			Workers: 1, IO: afpacket.ModeRing, IOConfig: &afpacket.Config{RxVersion: rxVersion}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("loop (RX ring V%d): %v", rxVersion, err)
		}
	}
}

// sendOne is oneWay, tried again with a new sequence number when the
// datagram is lost: under make test's parallel load the kernel path itself
// lost one now and then (UDP may), and a loss is not what this test
// measures. Three losses in a row are a failure.
func sendOne(tx, rx *net.UDPConn, dst *net.UDPAddr, seq uint32) (time.Duration, error) {
	var err error
	for try := range uint32(3) {
		var d time.Duration
		if d, err = oneWay(tx, rx, dst, seq+try*10_000_000); err == nil {
			return d, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, err
		}
	}
	return 0, err
}

// oneWay sends one datagram carrying seq to dst and returns the time from
// just before the send to the real server's kernel receiving it. It lets
// the director go idle first: its workers park after two empty waits, each
// ended within 10-20 ms by the runtime's preemption.
func oneWay(tx, rx *net.UDPConn, dst *net.UDPAddr, seq uint32) (time.Duration, error) {
	time.Sleep(50 * time.Millisecond)
	var msg [8]byte
	binary.BigEndian.PutUint32(msg[:], seq)
	start := time.Now()
	if _, err := tx.WriteToUDP(msg[:], dst); err != nil {
		return 0, err
	}
	buf := make([]byte, 64)
	oob := make([]byte, 128)
	deadline := time.Now().Add(2 * time.Second)
	if err := rx.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	for {
		n, oobn, _, _, err := rx.ReadMsgUDP(buf, oob)
		if err != nil {
			return 0, fmt.Errorf("datagram %d to %v did not arrive: %w", seq, dst, err)
		}
		if n != len(msg) || binary.BigEndian.Uint32(buf) != seq {
			continue // a late one from an earlier round
		}
		at, err := receiveStamp(oob[:oobn])
		if err != nil {
			return 0, err
		}
		return at.Sub(start), nil
	}
}

func setTimestampNS(c *net.UDPConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	return serr
}

// receiveStamp reads the SCM_TIMESTAMPNS control message (wall clock).
func receiveStamp(oob []byte) (time.Time, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, err
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:]))
			return time.Unix(sec, nsec), nil
		}
	}
	return time.Time{}, errors.New("no receive timestamp on the datagram")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
