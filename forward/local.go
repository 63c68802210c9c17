package forward

import (
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward/neigh"
)

// inboundICMP looks up the connection of an ICMP error from the client
// side that quotes a packet of one of our connections (a reply the real
// server sent), for the egress step to forward it to that connection's
// real server, as ip_vs_in_icmp does. ours reports whether the frame
// belongs to a connection; real is nil (and the drop counted) when its
// real server left the table.
func (w *worker) inboundICMP(p *Parsed, tab *balancer.Table, now conntrack.Tick) (real *balancer.RealServer, ours bool) {
	q := &p.Inner
	if !q.HasPorts {
		return nil, false
	}
	// The quoted packet went VIP -> client; the connection is keyed
	// client -> VIP.
	t := conntrack.Tuple4{Proto: balancer.Protocol(q.Proto), Src: q.Dst, Dst: q.Src, SrcPort: q.DstPort, DstPort: q.SrcPort}
	ci, ok := w.loop.cfg.Tracker.LookupInbound(t, now)
	if !ok {
		return nil, false
	}
	real = tab.Real(ci.RealID)
	if real == nil {
		w.ctr.balancerDrop(conntrack.DropRealUnavailable)
	}
	return real, true
}

// answerARP replies to ARP requests for the VIPs and learns the asker, as
// the kernel's arp_process does for requests addressed to it.
func (w *worker) answerARP(frame []byte, p *Parsed) {
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
	w.learnARPSender(frame, p)
}

func (w *worker) learnARPSender(frame []byte, p *Parsed) {
	a := frame[p.L3:]
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
func (w *worker) learnClient(frame []byte, p *Parsed) {
	port := w.loop.cfg.Client
	hop, ok := port.NextHop(p.Src)
	if !ok || hop != p.Src {
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
