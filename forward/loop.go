package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward/afpacket"
	"github.com/ulvs/ulvs/forward/neigh"
)

// BatchSize is how many frames a worker takes from its RX ring per Receive.
const BatchSize = 256

// Port is one interface the loop forwards on, with what the rewriters need
// to know about it.
type Port struct {
	Name  string
	Index int
	MAC   [6]byte
	MTU   int
	// Addr is the director's own IPv4 address on the interface: the outer
	// source of TUN packets and the source of ICMP errors the director sends.
	Addr [4]byte
	// Prefixes are the interface's connected networks; a destination inside
	// one is its own next hop.
	Prefixes []netip.Prefix
	// Gateway is the next hop for destinations outside Prefixes; the zero
	// value means there is none.
	Gateway [4]byte
	// Neigh resolves next hops on this interface. The loop only reads it.
	Neigh *neigh.Cache
}

// NextHop returns the address whose MAC a frame to dst carries.
func (p *Port) NextHop(dst [4]byte) ([4]byte, bool) {
	a := netip.AddrFrom4(dst)
	for _, pf := range p.Prefixes {
		if pf.Contains(a) {
			return dst, true
		}
	}
	return p.Gateway, p.Gateway != [4]byte{}
}

// LoopConfig wires a Loop. Client and Reals may be the same Port (a
// one-armed director).
type LoopConfig struct {
	Client, Reals *Port
	// Table is the current service snapshot, swapped by the control plane.
	Table *atomic.Pointer[balancer.Table]
	// Director is the connection table every worker shares.
	Director *conntrack.Director
	// VIPs are the addresses the loop answers ARP for on the client port.
	VIPs *neigh.VIPSet
	// Workers is the number of workers per receiving interface; zero means
	// one per CPU.
	Workers int
	// IO picks rings (the default) or plain sockets.
	IO afpacket.Mode
	// IOConfig tunes the sockets; nil means defaults.
	IOConfig *afpacket.Config
	// ICMPRate bounds the ICMP errors each worker sends per second
	// (fragmentation needed, time exceeded); zero means 100, like a
	// kernel's icmp_ratelimit of 10 ms with a burst.
	ICMPRate int
	// Clock returns the director's coarse time; nil means conntrack.Now.
	Clock func() conntrack.Tick
	// Logger gets setup and shutdown events, never per-packet ones.
	Logger *slog.Logger
	// Open opens a worker's socket; nil means afpacket.OpenConn with IO.
	// Tests pass in-memory conns.
	Open func(ifname string, cfg *afpacket.Config) (afpacket.Conn, error)
}

// Loop is the data plane: workers that each own an AF_PACKET socket
// (joined in a fanout group per interface), parse every frame once, ask the
// balancer, rewrite in place and transmit through TX rings, one flush per
// batch.
type Loop struct {
	cfg     LoopConfig
	log     *slog.Logger
	workers []*worker
	conns   []afpacket.Conn
	// trace is the armed trace, if any (see trace.go).
	trace atomic.Pointer[Trace]
}

// NewLoop opens every worker's sockets. Close them with Run's return or
// Close.
func NewLoop(cfg LoopConfig) (*Loop, error) {
	if cfg.Client == nil || cfg.Reals == nil || cfg.Table == nil || cfg.Director == nil {
		return nil, errors.New("forward: LoopConfig needs Client, Reals, Table and Director")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.ICMPRate <= 0 {
		cfg.ICMPRate = 100
	}
	if cfg.Clock == nil {
		cfg.Clock = conntrack.Now
	}
	if cfg.VIPs == nil {
		cfg.VIPs = new(neigh.VIPSet)
	}
	l := &Loop{cfg: cfg, log: cfg.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	ports := []*Port{cfg.Client}
	if cfg.Reals != cfg.Client {
		ports = append(ports, cfg.Reals)
	}
	for pi, in := range ports {
		for i := 0; i < cfg.Workers; i++ {
			w, err := l.newWorker(in, pi, ports)
			if err != nil {
				l.Close()
				return nil, err
			}
			l.workers = append(l.workers, w)
		}
	}
	return l, nil
}

func (l *Loop) open(ifname string, c afpacket.Config) (afpacket.Conn, error) {
	var conn afpacket.Conn
	var err error
	if l.cfg.Open != nil {
		conn, err = l.cfg.Open(ifname, &c)
	} else {
		conn, err = afpacket.OpenConn(ifname, l.cfg.IO, &c)
	}
	if err != nil {
		return nil, fmt.Errorf("forward: opening %s on %s: %w", l.cfg.IO, ifname, err)
	}
	l.conns = append(l.conns, conn)
	return conn, nil
}

func (l *Loop) newWorker(in *Port, pi int, ports []*Port) (*worker, error) {
	base := afpacket.Config{}
	if l.cfg.IOConfig != nil {
		base = *l.cfg.IOConfig
	}
	base.Logger = l.log
	rxc := base
	rxc.FanoutGroup = uint16(0x5500 + pi) // one group per receiving interface
	rx, err := l.open(in.Name, rxc)
	if err != nil {
		return nil, err
	}
	w := &worker{
		loop:   l,
		idx:    len(l.workers),
		in:     in,
		rx:     rx,
		bw:     l.cfg.Director.NewWorker(),
		frames: make([]afpacket.Frame, BatchSize),
		ps:     make([]Parsed, BatchSize),
		pkts:   make([]conntrack.BatchPacket, BatchSize),
		slots:  make([]int, BatchSize),
		icmp:   tokenBucket{rate: l.cfg.ICMPRate, burst: max(l.cfg.ICMPRate/10, 10)},
		oneArm: l.cfg.Client == l.cfg.Reals,
	}
	w.p = &w.ps[0]
	w.reals.shard = w.idx
	w.ctr.init()
	for _, p := range ports {
		if p == in {
			w.setTx(p, rx)
			continue
		}
		txc := base
		txc.NoRX = true
		tx, err := l.open(p.Name, txc)
		if err != nil {
			return nil, err
		}
		w.setTx(p, tx)
	}
	return w, nil
}

// Run runs the workers, each on its own locked OS thread, until ctx is done
// or a worker fails; then it closes every socket and returns the first
// error (nil after a clean stop).
func (l *Loop) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, len(l.workers))
	for _, w := range l.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if err := w.run(); err != nil {
				errc <- err
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	l.Close()
	wg.Wait()
	return err
}

// Workers returns the number of workers.
func (l *Loop) Workers() int { return len(l.workers) }

// IOFeatures returns the optional kernel features the first ring socket
// got (afpacket.Features), and false when the loop has no ring socket
// (plain I/O, or in-memory conns).
func (l *Loop) IOFeatures() (afpacket.Features, bool) {
	for _, c := range l.conns {
		if r, ok := c.(*afpacket.RingPort); ok {
			return r.Features(), true
		}
	}
	return afpacket.Features{}, false
}

// Close closes every socket; running workers return.
func (l *Loop) Close() {
	for _, c := range l.conns {
		c.Close()
	}
}

// Stats sums the workers' counters.
func (l *Loop) Stats() LoopStats {
	var s LoopStats
	for _, w := range l.workers {
		w.ctr.addTo(&s)
	}
	for _, c := range l.conns {
		io := c.Stats()
		s.RingDrops += io.RingDrops
		s.TxRingFull += io.TxRingFull
	}
	return s
}

// LoopStats are the data plane's counters.
type LoopStats struct {
	RxFrames   uint64
	TxFrames   uint64
	Inbound    uint64 // client packets forwarded to a real server
	Outbound   uint64 // NAT replies forwarded to a client
	ARPReplies uint64
	ICMPSent   uint64
	// Drops counts frames ulvs did not forward, by reason. DropNotOurs is
	// the ordinary fate of traffic that is the kernel's business.
	Drops [NumDropReasons]uint64
	// BalancerDrops counts the director's drops by reason.
	BalancerDrops [conntrack.NumDropReasons]uint64
	RingDrops     uint64 // frames the kernel could not put in an RX ring
	TxRingFull    uint64 // frames dropped for lack of a TX slot
}

// worker is one goroutine's share of the data plane: its RX socket, a TX
// socket per egress interface and its scratch space. Nothing in it is
// shared with another worker.
type worker struct {
	loop   *Loop
	idx    int // the worker's index: its traffic counter shard
	in     *Port
	rx     afpacket.Conn
	oneArm bool
	// txClient and txReals are the sockets frames leave by; the one for the
	// worker's own interface is rx itself.
	txClient, txReals afpacket.Conn
	bw                *conntrack.Worker
	// p is the frame being handled: one of ps, a Parsed per frame of the
	// batch, so that connection decisions can be made for the whole batch
	// at once (conntrack.Worker.DecideBatch) between parsing and rewriting.
	p      *Parsed
	ps     []Parsed
	frames []afpacket.Frame
	// pkts and slots are the batch's balancer work: pkts[j] belongs to
	// frame slots[j].
	pkts  []conntrack.BatchPacket
	slots []int
	ipid  uint16
	icmp  tokenBucket
	ctr   workerCounters
	// reals keeps per-real-server addresses, next-hop MACs and the batch's
	// traffic counts.
	reals realCache
	// tr is this worker's ring of the armed trace, read once per batch;
	// nil when no trace is armed.
	tr *traceRing
	// backHops remembers recent next-hop resolutions towards the client
	// side (those towards real servers live in reals).
	backHops hopMemo
	// svcMemo is isService's last answer.
	svcMemo serviceMemo
}

// hopMemo remembers the MACs a worker resolved for a few destinations on
// one port, for as long as the port's neighbour cache keeps its version:
// NAT replies go to a handful of gateways or on-link clients, and a route
// walk plus a map lookup per frame is the largest part of resolving.
type hopMemo struct {
	version uint64
	n, next int
	dst     [8][4]byte
	mac     [8][6]byte
}

func (m *hopMemo) lookup(version uint64, dst [4]byte) ([6]byte, bool) {
	if version != m.version {
		m.version, m.n, m.next = version, 0, 0
		return [6]byte{}, false
	}
	for i := range m.dst[:m.n] {
		if m.dst[i] == dst {
			return m.mac[i], true
		}
	}
	return [6]byte{}, false
}

func (m *hopMemo) remember(dst [4]byte, mac [6]byte) {
	i := m.next
	m.next = (m.next + 1) % len(m.dst)
	m.n = max(m.n, i+1)
	m.dst[i], m.mac[i] = dst, mac
}

func (w *worker) setTx(p *Port, c afpacket.Conn) {
	if p == w.loop.cfg.Client {
		w.txClient = c
	}
	if p == w.loop.cfg.Reals {
		w.txReals = c
	}
}

func (w *worker) run() error {
	for {
		n, err := w.rx.Receive(w.frames)
		if err == nil && n > 0 {
			w.handleBatch(w.frames[:n])
			w.rx.Release()
			w.ctr.rx.Add(uint64(n))
		}
		// Flush after every batch, and when idle too: frames a full send
		// buffer held back leave then.
		if err == nil {
			err = w.flush()
		}
		if err != nil {
			if errors.Is(err, afpacket.ErrClosed) {
				return nil
			}
			return fmt.Errorf("forward: worker on %s: %w", w.in.Name, err)
		}
	}
}

// handleBatch runs one received batch against one table snapshot and one
// clock reading, as Run does for every Receive: it parses every frame,
// asks the balancer about all service packets and NAT replies at once
// (so that the connection table's memory latency overlaps across the
// batch), then rewrites and queues them in arrival order.
func (w *worker) handleBatch(frames []afpacket.Frame) {
	defer w.endBatch()
	tab := w.loop.cfg.Table.Load()
	now := w.loop.cfg.Clock()
	w.icmp.refill(now)
	w.tr = w.loop.traceRing(w.idx)
	if w.tr != nil {
		// Tracing follows each frame from arrival to transmission, so it
		// takes the frame-at-a-time path.
		for i := range frames {
			w.p = &w.ps[0]
			w.handle(&frames[i], tab, now)
		}
		return
	}
	k := 0
	for i := range frames {
		w.p = &w.ps[i]
		switch w.classify(&frames[i], tab, now) {
		case pendingInbound:
			w.setBatchPacket(&w.pkts[k], false)
		case pendingOutbound:
			w.setBatchPacket(&w.pkts[k], true)
		default:
			continue
		}
		w.slots[k] = i
		k++
	}
	if k == 0 {
		return
	}
	w.bw.DecideBatch(tab, w.pkts[:k], now)
	for j := range w.pkts[:k] {
		i := w.slots[j]
		w.p = &w.ps[i]
		if w.pkts[j].Reply {
			w.afterOutbound(frames[i].Data, &w.pkts[j].Out, tab)
		} else {
			w.afterInbound(frames[i].Data, &w.pkts[j].In, now)
		}
	}
}

// endBatch publishes what handleBatch tallied in plain per-batch counts.
func (w *worker) endBatch() {
	w.reals.flush()
	w.ctr.settle()
}

// Step runs one frame, as received on port in, through exactly the path
// Run takes (parse, balancer, rewrite, transmit, flush), synchronously on
// the calling goroutine and with the first worker of that port. It exists
// so that tools can show what the data plane does with a frame (ulvs
// inspect) over the in-memory conns of LoopConfig.Open; it must not be
// called while Run runs. The frame may be rewritten in place.
func (l *Loop) Step(in *Port, f afpacket.Frame) error {
	for _, w := range l.workers {
		if w.in != in {
			continue
		}
		batch := [1]afpacket.Frame{f}
		w.handleBatch(batch[:])
		w.ctr.rx.Add(1)
		return w.flush()
	}
	return fmt.Errorf("forward: Step: no worker receives on %s; pass the LoopConfig's Client or Reals port", in.Name)
}

func (w *worker) flush() error {
	if err := w.txClient.Flush(); err != nil {
		return fmt.Errorf("transmit on %s: %w", w.loop.cfg.Client.Name, err)
	}
	if w.txReals == w.txClient {
		return nil
	}
	if err := w.txReals.Flush(); err != nil {
		return fmt.Errorf("transmit on %s: %w", w.loop.cfg.Reals.Name, err)
	}
	return nil
}

// stage copies a received frame into a TX slot of the port's socket and
// returns the copy, for a rewriter to change in place before send queues
// it; nil (counted) when the ring has no room. The frame is copied before it
// is rewritten, not after: a copy that read freshly rewritten bytes would
// wait for those narrow stores, and they in turn for the cache misses of
// the stores into earlier slots. A staged slot that is not sent is simply
// reused. The received frame stays as it came, for an ICMP error about it.
func (w *worker) stage(toClient bool, frame []byte) []byte {
	slot := w.txFor(toClient).TxSlot()
	if slot == nil || len(slot) < len(frame) {
		w.ctr.drop(DropNoRoom)
		return nil
	}
	return slot[:copy(slot, frame)]
}

// send queues a frame stage returned.
func (w *worker) send(toClient bool, staged []byte) {
	if w.tr != nil {
		w.traceSent(staged, toClient, false)
	}
	w.txFor(toClient).Commit(len(staged))
	w.ctr.txN++
}

// txFor is the socket frames towards the client side (or else the
// real-server side) leave by.
func (w *worker) txFor(toClient bool) afpacket.Conn {
	if toClient {
		return w.txClient
	}
	return w.txReals
}

func (w *worker) handle(f *afpacket.Frame, tab *balancer.Table, now conntrack.Tick) {
	if w.tr != nil {
		w.handleTraced(f, tab, now)
		return
	}
	w.process(f, tab, now)
}

// process is handle's work for one frame: parse, balance, rewrite,
// transmit.
func (w *worker) process(f *afpacket.Frame, tab *balancer.Table, now conntrack.Tick) {
	switch w.classify(f, tab, now) {
	case pendingInbound:
		w.inbound(f.Data, tab, now)
	case pendingOutbound:
		w.outbound(f.Data, tab, now, false)
	}
}

// pending says what a classified frame still needs from the balancer.
type pending uint8

const (
	handled         pending = iota // dropped, answered or passed to the kernel already
	pendingInbound                 // a client packet for a service
	pendingOutbound                // a packet from the real-server side: a NAT reply, perhaps
)

// classify parses a frame into w.p and deals at once with everything that
// needs no connection decision (drops, ARP, ICMP errors).
func (w *worker) classify(f *afpacket.Frame, tab *balancer.Table, now conntrack.Tick) pending {
	if f.Flags&afpacket.FlagVLAN != 0 {
		// The NIC stripped an 802.1Q tag; ulvs forwards untagged frames
		// and in-band tags only (see docs/architecture.md).
		w.ctr.drop(DropVLANOffloaded)
		return handled
	}
	if int(f.Len) > len(f.Data) {
		w.ctr.drop(DropTruncated)
		return handled
	}
	frame := f.Data
	p := w.p
	if r := p.DecodeStatus(frame, f.Flags&afpacket.FlagCsumNotReady != 0); r != DropNone {
		w.ctr.drop(r)
		return handled
	}
	if p.ARP {
		if w.in == w.loop.cfg.Client {
			w.answerARP(frame)
		}
		return handled
	}
	fromClient := w.in == w.loop.cfg.Client
	fromReals := w.in == w.loop.cfg.Reals
	if p.ICMPRelated {
		if fromClient && w.inboundICMP(frame, now) {
			return handled
		}
		if fromReals {
			w.outbound(frame, tab, now, true)
		}
		return handled
	}
	if !p.HasPorts {
		w.ctr.drop(DropNotOurs)
		return handled
	}
	if fromClient && w.isService(tab, p) {
		return pendingInbound
	}
	if fromReals {
		return pendingOutbound
	}
	w.ctr.drop(DropNotOurs)
	return handled
}

// isService reports whether p is addressed to a virtual service of tab.
// Most frames of a batch go to the same service, so the last answer is
// remembered (for the same table) in front of the table's map.
func (w *worker) isService(tab *balancer.Table, p *Parsed) bool {
	m := &w.svcMemo
	if m.tab == tab && m.proto == p.Proto && m.dst == p.Dst && m.port == p.DstPort {
		return m.ok
	}
	ok := tab.LookupV4(balancer.Protocol(p.Proto), p.Dst, p.DstPort) != nil
	*m = serviceMemo{tab: tab, proto: p.Proto, dst: p.Dst, port: p.DstPort, ok: ok}
	return ok
}

// serviceMemo is the last isService answer.
type serviceMemo struct {
	tab   *balancer.Table
	dst   [4]byte
	port  uint16
	proto uint8
	ok    bool
}

// setBatchPacket fills the balancer's view of the frame being handled,
// field by field: a composite literal is built on the stack with narrow
// stores and copied with wide loads, which cannot be forwarded from them
// and so wait for every pending store (DecideBatch fills In and Out).
func (w *worker) setBatchPacket(pk *conntrack.BatchPacket, reply bool) {
	p := w.p
	pk.Tuple.Proto = balancer.Protocol(p.Proto)
	pk.Tuple.Src, pk.Tuple.Dst = p.Src, p.Dst
	pk.Tuple.SrcPort, pk.Tuple.DstPort = p.SrcPort, p.DstPort
	pk.Flags = conntrack.TCPFlags(p.TCPFlags)
	pk.Reply = reply
}

func (w *worker) tuple() conntrack.Tuple4 {
	p := w.p
	return conntrack.Tuple4{Proto: balancer.Protocol(p.Proto), Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort}
}

func (w *worker) inbound(frame []byte, tab *balancer.Table, now conntrack.Tick) {
	res := w.bw.Inbound(tab, w.tuple(), conntrack.TCPFlags(w.p.TCPFlags), now)
	w.afterInbound(frame, &res, now)
}

// afterInbound acts on the balancer's decision for a client packet.
func (w *worker) afterInbound(frame []byte, res *conntrack.InboundResult, now conntrack.Tick) {
	switch res.Action {
	case conntrack.ActionNotService:
		w.ctr.drop(DropNotOurs)
		return
	case conntrack.ActionDrop:
		w.ctr.balancerDrop(res.Reason)
		return
	}
	if res.New {
		w.learnClient(frame)
	}
	w.toReal(frame, res.Real, now)
}

// toReal rewrites a client's frame for its real server by the server's
// method and queues it on the real-server port.
func (w *worker) toReal(frame []byte, real *balancer.RealServer, now conntrack.Tick) {
	p := w.p
	if w.tr != nil {
		w.traceInbound(frame, real)
	}
	out := w.loop.cfg.Reals
	rs := w.reals.slot(real)
	if v := out.Neigh.Version(); !rs.macOK || rs.macVersion != v {
		if !w.resolveReal(out, rs, v) {
			return
		}
	}
	if real.Method == balancer.TUN {
		w.tunnel(frame, rs, out)
		return
	}
	staged := w.stage(false, frame)
	if staged == nil {
		return
	}
	var r DropReason
	switch real.Method {
	case balancer.NAT:
		port := real.Port
		if port == 0 {
			port = p.DstPort
		}
		r = NATInbound(staged, p, rs.ip, port, out.MAC, rs.mac)
	case balancer.DR:
		r = DR(staged, p, out.MAC, rs.mac)
	default:
		r = DropNotOurs
	}
	if r != DropNone {
		w.refuse(frame, r, 0)
		return
	}
	w.reals.countIn(rs, len(staged))
	w.ctr.inboundN++
	w.send(false, staged)
}

func (w *worker) tunnel(frame []byte, rs *realSlot, out *Port) {
	slot := w.txReals.TxSlot()
	if slot == nil {
		w.ctr.drop(DropNoRoom)
		return
	}
	w.ipid++
	n, r := TUN(slot, frame, w.p, out.Addr, rs.ip, out.MAC, rs.mac, out.MTU, w.ipid)
	if r != DropNone {
		w.refuse(frame, r, out.MTU-TUNOverhead)
		return
	}
	if w.tr != nil {
		w.traceSent(slot[:n], false, false)
	}
	w.txReals.Commit(n)
	w.reals.countIn(rs, n)
	w.ctr.inboundN++
	w.ctr.txN++
}

// resolveReal reads the MAC of the next hop towards rs's server on port out
// (the real-server side) into rs, as of the neighbour cache's version v. On
// a miss it counts the drop and, for an unresolved neighbour, asks for a
// resolution without waiting for it.
func (w *worker) resolveReal(out *Port, rs *realSlot, v uint64) bool {
	mac, ok := w.lookupHop(out, rs.ip)
	if !ok {
		return false
	}
	rs.mac, rs.macVersion, rs.macOK = mac, v, true
	return true
}

// resolveBack returns the MAC of the next hop towards dst on the client
// side, through the worker's memo of recent answers.
func (w *worker) resolveBack(dst [4]byte) ([6]byte, bool) {
	back := w.loop.cfg.Client
	version := back.Neigh.Version()
	if mac, ok := w.backHops.lookup(version, dst); ok {
		return mac, true
	}
	mac, ok := w.lookupHop(back, dst)
	if ok {
		w.backHops.remember(dst, mac)
	}
	return mac, ok
}

// lookupHop routes dst on port out and looks its next hop up in the port's
// neighbour cache. On a miss it counts the drop and, for an unresolved
// neighbour, asks for a resolution without waiting for it.
func (w *worker) lookupHop(out *Port, dst [4]byte) ([6]byte, bool) {
	hop, ok := out.NextHop(dst)
	if !ok {
		w.ctr.drop(DropNoRoute)
		return [6]byte{}, false
	}
	mac, ok := out.Neigh.Lookup(hop)
	if !ok {
		out.Neigh.Want(hop)
		w.ctr.drop(DropNeighMiss)
		return mac, false
	}
	return mac, true
}

// refuse counts a rewriter's refusal and, for the refusals IPVS answers,
// sends the client an ICMP error (rate-limited).
func (w *worker) refuse(frame []byte, r DropReason, mtu int) {
	w.ctr.drop(r)
	if r != DropFragNeeded && r != DropTTLExpired {
		return
	}
	if !w.icmp.take() {
		w.ctr.icmpLimited.Add(1)
		return
	}
	back := w.loop.cfg.Client
	tx := w.txClient
	slot := tx.TxSlot()
	if slot == nil {
		return
	}
	// The error goes back the way the frame came: to its source MAC.
	var srcMAC [6]byte
	copy(srcMAC[:], frame[6:12])
	var n int
	if r == DropFragNeeded {
		n = BuildFragNeeded(slot, frame, w.p, mtu, back.Addr, back.MAC, srcMAC)
	} else {
		n = BuildTimeExceeded(slot, frame, w.p, back.Addr, back.MAC, srcMAC)
	}
	if n == 0 {
		return
	}
	if w.tr != nil {
		w.traceSent(slot[:n], true, true)
	}
	tx.Commit(n)
	w.ctr.icmpSent.Add(1)
	w.ctr.txN++
}

// outbound handles a frame from the real-server side: a NAT reply (or an
// ICMP error about a NAT connection) gets its source set back to the VIP
// and goes to the client.
func (w *worker) outbound(frame []byte, tab *balancer.Table, now conntrack.Tick, icmp bool) {
	p := w.p
	t := w.tuple()
	if icmp {
		// The quote is a client packet as the real server received it;
		// its reverse is the reply direction's tuple.
		q := &p.Inner
		t = conntrack.Tuple4{Proto: balancer.Protocol(q.Proto), Src: q.Dst, Dst: q.Src, SrcPort: q.DstPort, DstPort: q.SrcPort}
		if !q.HasPorts {
			w.ctr.drop(DropNotOurs)
			return
		}
	}
	res := w.bw.Outbound(tab, t, conntrack.TCPFlags(p.TCPFlags), now)
	w.afterOutbound(frame, &res, tab)
}

// afterOutbound acts on the balancer's decision for a real server's packet.
func (w *worker) afterOutbound(frame []byte, res *conntrack.OutboundResult, tab *balancer.Table) {
	p := w.p
	if res.Action != conntrack.ActionForward {
		w.ctr.drop(DropNotOurs)
		return
	}
	if w.tr != nil {
		w.traceOutbound(frame, res.Real, res.VIP, res.VPort)
	}
	back := w.loop.cfg.Client
	mac, ok := w.resolveBack(p.Dst)
	if !ok {
		return
	}
	staged := w.stage(true, frame)
	if staged == nil {
		return
	}
	if r := NATOutbound(staged, p, res.VIP, res.VPort, back.MAC, mac); r != DropNone {
		w.refuse(frame, r, 0)
		return
	}
	if real := tab.Real(res.Real); real != nil {
		w.reals.countOut(w.reals.slot(real), len(staged))
	}
	w.ctr.outboundN++
	w.send(true, staged)
}

// inboundICMP forwards an ICMP error from the client side that quotes a
// packet of one of our connections (a reply the real server sent) to that
// connection's real server, as ip_vs_in_icmp does. It reports whether the
// frame was ours.
func (w *worker) inboundICMP(frame []byte, now conntrack.Tick) bool {
	q := &w.p.Inner
	if !q.HasPorts {
		return false
	}
	// The quoted packet went VIP -> client; the connection is keyed
	// client -> VIP.
	t := conntrack.Tuple4{Proto: balancer.Protocol(q.Proto), Src: q.Dst, Dst: q.Src, SrcPort: q.DstPort, DstPort: q.SrcPort}
	ci, ok := w.loop.cfg.Director.LookupInbound(t, now)
	if !ok {
		return false
	}
	real := w.loop.cfg.Table.Load().Real(ci.RealID)
	if real == nil {
		w.ctr.balancerDrop(conntrack.DropRealUnavailable)
		return true
	}
	w.toReal(frame, real, now)
	return true
}

// answerARP replies to ARP requests for the VIPs and learns the asker, as
// the kernel's arp_process does for requests addressed to it.
func (w *worker) answerARP(frame []byte) {
	port := w.loop.cfg.Client
	slot := w.txClient.TxSlot()
	if slot == nil {
		return
	}
	n := neigh.Reply(slot, frame, port.MAC, w.loop.cfg.VIPs)
	if n == 0 {
		return
	}
	w.txClient.Commit(n)
	w.ctr.arp.Add(1)
	w.ctr.txN++
	w.learnARPSender(frame)
}

func (w *worker) learnARPSender(frame []byte) {
	a := frame[w.p.L3:]
	var ip [4]byte
	var mac [6]byte
	copy(mac[:], a[8:14])
	copy(ip[:], a[14:18])
	port := w.loop.cfg.Client
	if _, ok := port.Neigh.Lookup(ip); !ok {
		port.Neigh.Learn(ip, mac)
	}
}

// learnClient remembers the MAC a new connection's first frame came from
// as the next hop towards its client, so that the first NAT reply need not
// wait for ARP.
func (w *worker) learnClient(frame []byte) {
	port := w.loop.cfg.Client
	hop, ok := port.NextHop(w.p.Src)
	if !ok || hop != w.p.Src {
		return
	}
	if _, ok := port.Neigh.Lookup(hop); ok {
		return
	}
	var mac [6]byte
	copy(mac[:], frame[6:12])
	port.Neigh.Learn(hop, mac)
}

// tokenBucket rate-limits the ICMP errors a worker sends.
type tokenBucket struct {
	rate, burst int
	tokens      int
	last        conntrack.Tick
}

func (b *tokenBucket) refill(now conntrack.Tick) {
	elapsed := (now - b.last).Duration()
	if elapsed < 10*time.Millisecond {
		return
	}
	b.tokens = min(b.burst, b.tokens+int(elapsed*time.Duration(b.rate)/time.Second))
	b.last = now
}

func (b *tokenBucket) take() bool {
	if b.tokens <= 0 {
		return false
	}
	b.tokens--
	return true
}

// workerCounters are one worker's counters: written by it alone, read by
// Stats from any goroutine.
type workerCounters struct {
	rx, tx, inbound, outbound, arp, icmpSent, icmpLimited atomic.Uint64
	// txN, inboundN and outboundN count the current batch's frames in
	// plain fields (only the worker touches them) and settle adds them to
	// the shared counters once per batch: a locked add per frame would
	// also wait for the frame's stores into the TX ring to drain.
	txN, inboundN, outboundN uint64
	drops                    Counters
	balancer                 [conntrack.NumDropReasons]atomic.Uint64
	// last is the reason of the latest drop, for the trace; worker only.
	last TraceReason
}

func (c *workerCounters) init() {}

// settle publishes the batch counts; handleBatch calls it once per batch.
func (c *workerCounters) settle() {
	if c.txN != 0 {
		c.tx.Add(c.txN)
		c.txN = 0
	}
	if c.inboundN != 0 {
		c.inbound.Add(c.inboundN)
		c.inboundN = 0
	}
	if c.outboundN != 0 {
		c.outbound.Add(c.outboundN)
		c.outboundN = 0
	}
}

func (c *workerCounters) drop(r DropReason) {
	c.drops.Inc(r)
	c.last = FrameDrop(r)
}

func (c *workerCounters) balancerDrop(r conntrack.DropReason) {
	c.balancer[r].Add(1)
	c.last = BalancerDrop(r)
}

func (c *workerCounters) addTo(s *LoopStats) {
	s.RxFrames += c.rx.Load()
	s.TxFrames += c.tx.Load()
	s.Inbound += c.inbound.Load()
	s.Outbound += c.outbound.Load()
	s.ARPReplies += c.arp.Load()
	s.ICMPSent += c.icmpSent.Load()
	for i := range s.Drops {
		s.Drops[i] += c.drops.Load(DropReason(i))
	}
	for i := range s.BalancerDrops {
		s.BalancerDrops[i] += c.balancer[i].Load()
	}
}
