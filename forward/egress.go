package forward

import (
	"fmt"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward/afpacket"
)

// afterInbound acts on the balancer's decision for a client packet.
func (w *worker) afterInbound(frame []byte, p *Parsed, res *conntrack.InboundResult, now conntrack.Tick) {
	switch res.Action {
	case conntrack.ActionNotService:
		w.ctr.drop(DropNotOurs)
		return
	case conntrack.ActionDrop:
		w.ctr.balancerDrop(res.Reason)
		return
	}
	if res.New {
		w.learnClient(frame, p)
	}
	w.toReal(frame, p, res.Real, now)
}

// toReal rewrites a client's frame for its real server by the server's
// method and queues it on the real-server port.
func (w *worker) toReal(frame []byte, p *Parsed, real *balancer.RealServer, now conntrack.Tick) {
	if w.tr != nil {
		w.tr.inbound(frame, p, real)
	}
	out := w.loop.cfg.Reals
	rs := w.reals.slot(real)
	if v := out.Neigh.Version(); !rs.macOK || rs.macVersion != v {
		if !w.resolveReal(out, rs, v) {
			return
		}
	}
	if real.Method == balancer.TUN {
		w.tunnel(frame, p, rs, out)
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
		w.refuse(frame, p, r, 0)
		return
	}
	w.reals.countIn(rs, len(staged))
	w.ctr.inboundN++
	w.send(false, staged)
}

func (w *worker) tunnel(frame []byte, p *Parsed, rs *realSlot, out *Port) {
	slot := w.txReals.TxSlot()
	if slot == nil {
		w.ctr.drop(DropNoRoom)
		return
	}
	w.ipid++
	n, r := TUN(slot, frame, p, out.Addr, rs.ip, out.MAC, rs.mac, out.MTU, w.ipid)
	if r != DropNone {
		w.refuse(frame, p, r, out.MTU-TUNOverhead)
		return
	}
	if w.tr != nil {
		w.tr.sent(slot[:n], false, false)
	}
	w.txReals.Commit(n)
	w.reals.countIn(rs, n)
	w.ctr.inboundN++
	w.ctr.txN++
}

// refuse counts a rewriter's refusal and, for the refusals IPVS answers,
// sends the client an ICMP error (rate-limited).
func (w *worker) refuse(frame []byte, p *Parsed, r DropReason, mtu int) {
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
		n = BuildFragNeeded(slot, frame, p, mtu, back.Addr, back.MAC, srcMAC)
	} else {
		n = BuildTimeExceeded(slot, frame, p, back.Addr, back.MAC, srcMAC)
	}
	if n == 0 {
		return
	}
	if w.tr != nil {
		w.tr.sent(slot[:n], true, true)
	}
	tx.Commit(n)
	w.ctr.icmpSent.Add(1)
	w.ctr.txN++
}

// afterOutbound acts on the balancer's decision for a real server's packet.
func (w *worker) afterOutbound(frame []byte, p *Parsed, res *conntrack.OutboundResult, tab *balancer.Table) {
	if res.Action != conntrack.ActionForward {
		w.ctr.drop(DropNotOurs)
		return
	}
	if w.tr != nil {
		w.tr.outbound(frame, p, res.Real, res.VIP, res.VPort)
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
		w.refuse(frame, p, r, 0)
		return
	}
	if real := tab.Real(res.Real); real != nil {
		w.reals.countOut(w.reals.slot(real), len(staged))
	}
	w.ctr.outboundN++
	w.send(true, staged)
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
		w.tr.sent(staged, toClient, false)
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
