package forward

import (
	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward/afpacket"
)

// pending says what a classified frame still needs.
type pending uint8

const (
	handled         pending = iota // dropped, answered or passed to the kernel already
	pendingInbound                 // a client packet for a service: a balancer decision
	pendingOutbound                // a packet from the real-server side (a NAT reply, or an ICMP error about one): a balancer decision
	pendingToReal                  // an ICMP error about a connection, to its real server (already looked up)
	pendingTraced                  // handled, but traced: its sample is taken in arrival order
)

// pendingFrame is a frame classify left for the egress step.
type pendingFrame struct {
	real   *balancer.RealServer // pendingToReal: the connection's real server
	frame  int32                // the frame's index in the batch (and in ps)
	kind   pending
	reason TraceReason // pendingTraced: the frame's drop reason, if any
}

// classify parses a frame into p and deals at once with everything that
// needs no connection decision (drops, ARP). A frame that needs one gets
// its balancer view in pk; an ICMP error to forward to a real server gets
// that server in pf.
func (w *worker) classify(f *afpacket.Frame, p *Parsed, pf *pendingFrame, pk *conntrack.BatchPacket, tab *balancer.Table, now conntrack.Tick) pending {
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
	if r := p.DecodeStatus(frame, f.Flags&afpacket.FlagCsumNotReady != 0); r != DropNone {
		w.ctr.drop(r)
		return handled
	}
	if p.ARP {
		if w.in == w.loop.cfg.Client {
			w.answerARP(frame, p)
		}
		return handled
	}
	fromClient := w.in == w.loop.cfg.Client
	fromReals := w.in == w.loop.cfg.Reals
	if p.ICMPRelated {
		if fromClient {
			if real, ours := w.inboundICMP(p, tab, now); ours {
				if real == nil {
					return handled
				}
				pf.real = real
				return pendingToReal
			}
		}
		if fromReals {
			// The quote is a client packet as the real server received
			// it; its reverse is the reply direction's tuple.
			q := &p.Inner
			if !q.HasPorts {
				w.ctr.drop(DropNotOurs)
				return handled
			}
			pk.Tuple.Proto = balancer.Protocol(q.Proto)
			pk.Tuple.Src, pk.Tuple.Dst = q.Dst, q.Src
			pk.Tuple.SrcPort, pk.Tuple.DstPort = q.DstPort, q.SrcPort
			pk.Flags = conntrack.TCPFlags(p.TCPFlags)
			pk.Reply = true
			return pendingOutbound
		}
		return handled
	}
	if !p.HasPorts {
		w.ctr.drop(DropNotOurs)
		return handled
	}
	if fromClient && w.isService(tab, p) {
		setBatchPacket(pk, p, false)
		return pendingInbound
	}
	if fromReals {
		setBatchPacket(pk, p, true)
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

// setBatchPacket fills the balancer's view of frame p, field by field: a
// composite literal is built on the stack with narrow stores and copied
// with wide loads, which cannot be forwarded from them and so wait for
// every pending store (DecideBatch fills In and Out).
func setBatchPacket(pk *conntrack.BatchPacket, p *Parsed, reply bool) {
	pk.Tuple.Proto = balancer.Protocol(p.Proto)
	pk.Tuple.Src, pk.Tuple.Dst = p.Src, p.Dst
	pk.Tuple.SrcPort, pk.Tuple.DstPort = p.SrcPort, p.DstPort
	pk.Flags = conntrack.TCPFlags(p.TCPFlags)
	pk.Reply = reply
}
