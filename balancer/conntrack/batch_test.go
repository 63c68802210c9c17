package conntrack

import (
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/ulvs/ulvs/balancer"
)

// TestPrefetch runs the prefetch helper over a table's first, middle and
// last slots: it must neither fault nor change what it touches.
func TestPrefetch(t *testing.T) {
	slots := make([]connEntry, 1000)
	for i := range slots {
		slots[i].aux = uint32(i)
	}
	for _, i := range []int{0, 1, 499, 998, 999} {
		prefetch(unsafe.Pointer(&slots[i]))
	}
	out := make([]uint64, 3)
	prefetch(unsafe.Pointer(&out[2]))
	for i := range slots {
		if slots[i].aux != uint32(i) {
			t.Fatalf("slot %d changed to %d", i, slots[i].aux)
		}
	}
}

// connBatchTwins builds two directors over one source: one is driven by
// the single-packet calls, the other by the batch calls.
func connBatchTwins(t *testing.T, cfg Config) (src *connTestSource, nat []*balancer.RealServer, a, b *Worker) {
	nat = []*balancer.RealServer{newConnTestReal("10.0.2.1", 8080, balancer.NAT), newConnTestReal("10.0.2.2", 0, balancer.NAT), newConnTestReal("10.0.2.3", 8080, balancer.NAT)}
	dr := []*balancer.RealServer{newConnTestReal("10.0.3.1", 53, balancer.DR), newConnTestReal("10.0.3.2", 53, balancer.TUN)}
	tcp := newConnTestService(balancer.TCP, "10.0.0.100", 80, nat...)
	tcp.Sched = &connTestHashSched{reals: nat}
	persistent := newConnTestService(balancer.TCP, "10.0.0.102", 443, nat...)
	persistent.Sched = &connTestHashSched{reals: nat}
	persistent.Persistence = 30 * time.Second
	persistent.PersistenceMaskBits = 24
	udp := newConnTestService(balancer.UDP, "10.0.0.101", 53, dr...)
	udp.Sched = &connTestHashSched{reals: dr}
	src = newConnTestSource(tcp, persistent, udp)
	da, db := newConnTestDirector(t, cfg), newConnTestDirector(t, cfg)
	// Same hash keys, so a full shard in one is full in the other.
	db.tab.hash = da.tab.hash
	return src, nat, da.NewWorker(), db.NewWorker()
}

// connBatchTuple draws a client packet from a small space of clients, so
// that a batch holds several packets of one flow and of one template.
func connBatchTuple(rng *rand.Rand) (Tuple4, TCPFlags) {
	t := Tuple4{Src: [4]byte{10, 0, byte(rng.IntN(2)), byte(rng.IntN(40))}, SrcPort: uint16(1000 + rng.IntN(3)), Proto: balancer.TCP}
	switch rng.IntN(8) {
	case 0, 1, 2:
		t.Dst, t.DstPort = [4]byte{10, 0, 0, 100}, 80
	case 3, 4:
		t.Dst, t.DstPort = [4]byte{10, 0, 0, 102}, 443
	case 5:
		t.Proto, t.Dst, t.DstPort = balancer.UDP, [4]byte{10, 0, 0, 101}, 53
	case 6:
		t.Dst, t.DstPort = [4]byte{10, 0, 0, 200}, 80 // no service
	default:
		t.Proto, t.Dst, t.DstPort = balancer.SCTP, [4]byte{10, 0, 0, 100}, 80 // untracked
	}
	flags := []TCPFlags{TCPSyn, TCPAck, TCPAck, TCPAck | TCPFin, TCPRst, TCPSyn | TCPAck}[rng.IntN(6)]
	return t, flags
}

// TestBatchMatchesSingle checks that inboundBatch and outboundBatch decide
// exactly as Inbound and Outbound called packet by packet: same results,
// same entries, same counters, over batches that repeat flows and
// templates, cross expiry, fill the table and exceed the chunk size.
func TestBatchMatchesSingle(t *testing.T) {
	for _, cfg := range []Config{
		{MaxConns: 4096, Shards: 4},
		{MaxConns: 64, Shards: 2}, // fills: admit and reclaim
		{MaxConns: 4096, Shards: 1, NoConnReuse: true, ExpireNodestConn: true},
		{MaxConns: 1 << 14, Shards: 2 * connGroupMaxShards}, // too many shards to group: per packet
	} {
		src, nat, a, b := connBatchTwins(t, cfg)
		rng := rand.New(rand.NewPCG(1, uint64(cfg.MaxConns)))
		now := Tick(1)
		for round := range 40 {
			n := []int{1, 7, 256, 300, 600}[round%5]
			tuples := make([]Tuple4, n)
			flags := make([]TCPFlags, n)
			for i := range tuples {
				tuples[i], flags[i] = connBatchTuple(rng)
			}
			res := make([]InboundResult, n)
			b.inboundBatch(src, tuples, flags, now, res)
			for i := range tuples {
				if want := a.Inbound(src, tuples[i], flags[i], now); res[i] != want {
					t.Fatalf("%+v round %d packet %d %+v flags %#x: batch %+v, single %+v", cfg, round, i, tuples[i], uint8(flags[i]), res[i], want)
				}
			}

			replies := make([]Tuple4, n)
			for i, c := range tuples {
				replies[i] = connReply(c, nat[rng.IntN(len(nat))])
			}
			out := make([]OutboundResult, n)
			b.outboundBatch(src, replies, flags, now, out)
			for i := range replies {
				if want := a.Outbound(src, replies[i], flags[i], now); out[i] != want {
					t.Fatalf("%+v round %d reply %d %+v: batch %+v, single %+v", cfg, round, i, replies[i], out[i], want)
				}
			}
			now += Tick(rng.IntN(40)) * 1000
			connBatchSameTable(t, src, now, a.d, b.d)
		}
		if a.d.Counters() != b.d.Counters() {
			t.Fatalf("%+v counters differ:\nsingle %+v\nbatch  %+v", cfg, a.d.Counters(), b.d.Counters())
		}
		if c := b.d.Counters(); c.NewConns == 0 || c.Forwarded == 0 || c.NotService == 0 || c.Drops[DropNotSYN] == 0 || c.Templates == 0 || c.Expired == 0 {
			t.Fatalf("%+v: the batches did not cover the main outcomes: %+v", cfg, c)
		}
	}
}

func connBatchSameTable(t *testing.T, src ServiceSource, now Tick, a, b *Tracker) {
	t.Helper()
	list := func(d *Tracker) map[ConnInfo]bool {
		m := map[ConnInfo]bool{}
		d.Conns(src, now, func(c ConnInfo) bool { m[c] = true; return true })
		return m
	}
	la, lb := list(a), list(b)
	if a.Len() != b.Len() || len(la) != len(lb) {
		t.Fatalf("single holds %d (%d live), batch %d (%d live)", a.Len(), len(la), b.Len(), len(lb))
	}
	for c := range la {
		if !lb[c] {
			t.Fatalf("entry %+v only in the single-packet table", c)
		}
	}
}

func TestBatchAllocs(t *testing.T) {
	r1 := newConnTestReal("10.0.2.1", 80, balancer.NAT)
	src := newConnTestSource(newConnTestService(balancer.TCP, "10.0.0.100", 80, r1))
	d := newConnTestDirector(t, Config{MaxConns: 1 << 16})
	w := d.NewWorker()
	tuples := make([]Tuple4, connBatchMax)
	replies := make([]Tuple4, connBatchMax)
	flags := make([]TCPFlags, connBatchMax)
	for i := range tuples {
		tuples[i] = Tuple4{Src: [4]byte{10, 9, 0, byte(i)}, SrcPort: uint16(1000 + i), Dst: [4]byte{10, 0, 0, 100}, DstPort: 80, Proto: balancer.TCP}
		replies[i] = connReply(tuples[i], r1)
		flags[i] = TCPSyn
	}
	res := make([]InboundResult, connBatchMax)
	out := make([]OutboundResult, connBatchMax)
	w.inboundBatch(src, tuples, flags, 0, res) // creates the connections
	for i := range flags {
		flags[i] = TCPAck
	}
	mixed := make([]BatchPacket, connBatchMax)
	for i := range mixed {
		mixed[i] = BatchPacket{Tuple: tuples[i], Flags: TCPAck}
		if i%2 == 1 {
			mixed[i] = BatchPacket{Tuple: replies[i], Flags: TCPAck, Reply: true}
		}
	}
	port := uint16(0)
	for _, tt := range []struct {
		name string
		fn   func()
	}{
		{"inboundBatch hits", func() { w.inboundBatch(src, tuples, flags, 1, res) }},
		{"outboundBatch hits", func() { w.outboundBatch(src, replies, flags, 1, out) }},
		{"DecideBatch mixed hits", func() { w.DecideBatch(src, mixed, 1) }},
		{"inboundBatch new", func() {
			port++
			syn := [1]Tuple4{{Src: [4]byte{10, 8, 0, 1}, SrcPort: port, Dst: [4]byte{10, 0, 0, 100}, DstPort: 80, Proto: balancer.TCP}}
			w.inboundBatch(src, syn[:], []TCPFlags{TCPSyn}, 1, res)
		}},
	} {
		if got := testing.AllocsPerRun(100, tt.fn); got != 0 {
			t.Errorf("%s allocates %.1f times per call", tt.name, got)
		}
	}
	if res[0].Action != ActionForward || out[0].Action != ActionForward || mixed[0].In.Action != ActionForward || mixed[1].Out.Action != ActionForward {
		t.Fatalf("batch did not forward: %+v %+v %+v %+v", res[0], out[0], mixed[0], mixed[1])
	}
}

// TestSYNReuseOverRemovedServer: a SYN over a closed entry whose server
// left the table starts a new connection (conn_reuse_mode) even with
// expire_nodest_conn off, while an ACK is dropped; through both the
// single-packet and the batch path.
func TestSYNReuseOverRemovedServer(t *testing.T) {
	for _, batch := range []bool{false, true} {
		r1 := newConnTestReal("10.0.2.1", 80, balancer.NAT)
		r2 := newConnTestReal("10.0.2.2", 80, balancer.NAT)
		src := newConnTestSource(newConnTestService(balancer.TCP, "10.0.0.100", 80, r1))
		d := newConnTestDirector(t, Config{MaxConns: 100})
		w := d.NewWorker()
		in := func(src ServiceSource, c Tuple4, f TCPFlags, now Tick) InboundResult {
			if !batch {
				return w.Inbound(src, c, f, now)
			}
			res := make([]InboundResult, 1)
			w.inboundBatch(src, []Tuple4{c}, []TCPFlags{f}, now, res)
			return res[0]
		}
		c := connTup(balancer.TCP, "10.0.1.5:1000", "10.0.0.100:80")
		in(src, c, TCPSyn, 0)
		in(src, c, TCPAck, connSec/2)
		in(src, c, TCPRst, connSec)
		if info, ok := d.LookupInbound(c, connSec); !ok || info.State != StateClose {
			t.Fatalf("batch %v: after RST: %+v %v, want CLOSE", batch, info, ok)
		}
		src2 := newConnTestSource(newConnTestService(balancer.TCP, "10.0.0.100", 80, r2))
		if res := in(src2, c, TCPAck, 2*connSec); res.Action != ActionDrop || res.Reason != DropRealUnavailable {
			t.Fatalf("batch %v: ACK over removed server: %+v, want drop real-unavailable", batch, res)
		}
		if res := in(src2, c, TCPSyn, 3*connSec); res.Real != r2 || !res.New {
			t.Fatalf("batch %v: SYN over closed entry of removed server: %+v, want a new connection to r2", batch, res)
		}
		if c := d.Counters(); c.Rescheduled != 1 || c.NewConns != 2 {
			t.Errorf("batch %v: counters %+v", batch, c)
		}
	}
}

// TestDecideBatchMatchesSingle checks that DecideBatch, given client
// packets and NAT replies interleaved as a one-armed director receives
// them, decides exactly as Inbound and Outbound called in the same order.
func TestDecideBatchMatchesSingle(t *testing.T) {
	for _, cfg := range []Config{
		{MaxConns: 4096, Shards: 4},
		{MaxConns: 64, Shards: 2},
		{MaxConns: 4096, Shards: 1, NoConnReuse: true, ExpireNodestConn: true},
		{MaxConns: 1 << 14, Shards: 2 * connGroupMaxShards}, // too many shards to group: per packet
	} {
		src, nat, a, b := connBatchTwins(t, cfg)
		rng := rand.New(rand.NewPCG(2, uint64(cfg.MaxConns)))
		now := Tick(1)
		for round := range 40 {
			pkts := make([]BatchPacket, []int{1, 9, 256, 300, 600}[round%5])
			for i := range pkts {
				p := &pkts[i]
				p.Tuple, p.Flags = connBatchTuple(rng)
				if rng.IntN(2) == 0 {
					p.Reply, p.Tuple = true, connReply(p.Tuple, nat[rng.IntN(len(nat))])
				}
				p.In.Action, p.Out.Action = ActionDrop, ActionDrop // stale values DecideBatch must clear
			}
			b.DecideBatch(src, pkts, now)
			for i, p := range pkts {
				var want BatchPacket
				if p.Reply {
					want.Out = a.Outbound(src, p.Tuple, p.Flags, now)
				} else {
					want.In = a.Inbound(src, p.Tuple, p.Flags, now)
				}
				if p.In != want.In || p.Out != want.Out {
					t.Fatalf("%+v round %d packet %d %+v: batch %+v %+v, single %+v %+v", cfg, round, i, p.Tuple, p.In, p.Out, want.In, want.Out)
				}
			}
			now += Tick(rng.IntN(40)) * 1000
			connBatchSameTable(t, src, now, a.d, b.d)
		}
		if a.d.Counters() != b.d.Counters() {
			t.Fatalf("%+v counters differ:\nsingle %+v\nbatch  %+v", cfg, a.d.Counters(), b.d.Counters())
		}
		if c := b.d.Counters(); c.NewConns == 0 || c.Forwarded < c.NewConns+1 {
			t.Fatalf("%+v: the batches did not forward replies: %+v", cfg, c)
		}
	}
}

// TestBatchHomeIsShardHome: the flat-array addresses a batch prefetches are
// the shards' own home slots.
func TestBatchHomeIsShardHome(t *testing.T) {
	tab := newConnTable(5000, 8)
	for i := range tab.shards {
		sh := &tab.shards[i]
		for _, h := range []uint64{0, 1 << 32, 0xdeadbeef12345678, ^uint64(0)} {
			if got, want := tab.homeEntry(i, h), &sh.slots[connHome(h, sh.n)]; got != want {
				t.Errorf("shard %d, hash %#x: homeEntry %p, want %p", i, h, got, want)
			}
			if got, want := tab.homeOut(i, h), &sh.out[connHome(h, sh.n)]; got != want {
				t.Errorf("shard %d, hash %#x: homeOut %p, want %p", i, h, got, want)
			}
		}
	}
}

// TestDecideBatchLocksEachPacketsShard checks that DecideBatch's hit pass
// decides every packet under its own shard's lock: a batch of established
// flows that all live in one shard must wait while another goroutine holds
// that shard, and finish once it lets go. (The equivalence tests above
// cannot see a wrong lock: a single goroutine decides the same either way.)
func TestDecideBatchLocksEachPacketsShard(t *testing.T) {
	src, _, _, w := connBatchTwins(t, Config{MaxConns: 4096, Shards: 8})
	tab := w.d.tab
	now := Tick(1)
	// Established UDP flows that hash to one shard other than the first
	// and the last, so locking a neighbour instead cannot pass.
	const want = 5
	var pkts []BatchPacket
	for i := 0; len(pkts) < 12; i++ {
		t4 := Tuple4{Proto: balancer.UDP, Src: [4]byte{10, 9, byte(i >> 8), byte(i)}, Dst: [4]byte{10, 0, 0, 101}, SrcPort: 5000, DstPort: 53}
		if tab.shardIndex(connBE32(t4.Src), t4.SrcPort, t4.Proto) != want {
			continue
		}
		if r := w.Inbound(src, t4, 0, now); r.Action != ActionForward || !r.New {
			t.Fatalf("setting up %+v: %+v", t4, r)
		}
		pkts = append(pkts, BatchPacket{Tuple: t4})
	}
	sh := &tab.shards[want]
	sh.mu.Lock()
	done := make(chan struct{})
	go func() {
		w.DecideBatch(src, pkts, now)
		close(done)
	}()
	select {
	case <-done:
		sh.mu.Unlock()
		t.Fatal("DecideBatch decided the batch while its shard was locked elsewhere")
	case <-time.After(200 * time.Millisecond):
	}
	sh.mu.Unlock()
	<-done
	for i, p := range pkts {
		if p.In.Action != ActionForward || p.In.New {
			t.Errorf("packet %d %+v: %+v, want a plain hit", i, p.Tuple, p.In)
		}
	}
}
