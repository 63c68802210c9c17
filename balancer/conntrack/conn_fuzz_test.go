package conntrack

import (
	"testing"

	"github.com/ulvs/ulvs/balancer"
)

// connModel is a slow reference for the director: a Go map from the
// inbound tuple to a plain struct, with the same IPVS rules written out
// directly (no sharding, no open addressing, no lazy removal tricks).
type connModel struct {
	conns map[Tuple4]*connModelEntry
	// count is the model's view of each real's active/inactive connCounts.
	count map[*balancer.RealServer]*connCounts
}

type connModelEntry struct {
	real     *balancer.RealServer
	state    ConnState
	expires  Tick
	inactive bool
	noOutput bool
}

func (m *connModel) bind(r *balancer.RealServer, active bool, delta int32) {
	c := m.count[r]
	if c == nil {
		c = &connCounts{}
		m.count[r] = c
	}
	if active {
		c.active += delta
	} else {
		c.inactive += delta
	}
}

func (m *connModel) remove(t Tuple4) {
	c := m.conns[t]
	m.bind(c.real, !c.inactive, -1)
	delete(m.conns, t)
}

func (m *connModel) update(c *connModelEntry, proto balancer.Protocol, out bool, f TCPFlags, now Tick, d *Tracker) {
	if proto == balancer.TCP {
		v := viewInput
		if out {
			v = viewOutput
			c.noOutput = false
		} else if c.noOutput {
			v = viewInputOnly
		}
		ns := nextTCPState(c.state, v, f)
		if c.inactive && ns.Active() {
			m.bind(c.real, false, -1)
			m.bind(c.real, true, 1)
			c.inactive = false
		} else if !c.inactive && !ns.Active() {
			m.bind(c.real, true, -1)
			m.bind(c.real, false, 1)
			c.inactive = true
		}
		c.state = ns
	}
	c.expires = now + d.timeouts.of(c.state)
}

// FuzzDirectorModel runs random packet, clock and sweep sequences against
// the director and the reference model and compares every decision, the
// entry count and each real server's active/inactive connCounts.
func FuzzDirectorModel(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 0, 1, 0x10, 0, 1, 1, 0x12, 0, 0, 1, 0x11, 0, 3, 0, 0, 200, 4, 0, 0, 0})
	f.Add([]byte{2, 3, 0, 0, 2, 3, 0, 0, 3, 0, 0, 250, 2, 3, 0, 0, 4, 0, 0, 0})
	f.Add([]byte{0, 5, 2, 0, 0, 5, 0x10, 1, 0, 5, 0x11, 1, 1, 5, 0x11, 1, 0, 5, 0x10, 1, 0, 5, 2, 1, 4, 0, 0, 0})
	f.Add([]byte{0, 7, 2, 0, 0, 7, 4, 0, 0, 7, 2, 0, 0, 15, 2, 0, 0, 15, 0, 0, 3, 0, 0, 100, 0, 15, 0x10, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		nat := []*balancer.RealServer{newConnTestReal("10.0.2.1", 8080, balancer.NAT), newConnTestReal("10.0.2.2", 8081, balancer.NAT), newConnTestReal("10.0.2.3", 0, balancer.NAT)}
		dr := []*balancer.RealServer{newConnTestReal("10.0.3.1", 53, balancer.DR), newConnTestReal("10.0.3.2", 53, balancer.TUN)}
		tcpSvc := newConnTestService(balancer.TCP, "10.0.0.100", 80, nat...)
		tcpSvc.Sched = &connTestHashSched{reals: nat}
		drSvc := newConnTestService(balancer.TCP, "10.0.0.101", 53, dr...)
		drSvc.Sched = &connTestHashSched{reals: dr}
		udpSvc := newConnTestService(balancer.UDP, "10.0.0.101", 53, dr...)
		udpSvc.Sched = &connTestHashSched{reals: dr}
		src := newConnTestSource(tcpSvc, drSvc, udpSvc)
		d := newConnTestDirector(t, Config{MaxConns: 4096, Shards: 4})
		w := d.NewWorker()
		m := &connModel{conns: map[Tuple4]*connModelEntry{}, count: map[*balancer.RealServer]*connCounts{}}
		now := Tick(1)

		for len(ops) >= 4 {
			op, who, fl, arg := ops[0]%5, ops[1], TCPFlags(ops[2]), ops[3]
			ops = ops[4:]
			client := Tuple4{Src: [4]byte{10, 0, 1, who & 7}, SrcPort: 1000 + uint16(who>>3&3), Proto: balancer.TCP}
			switch {
			case op == 0 && arg&1 == 0, op == 1:
				client.Dst, client.DstPort = [4]byte{10, 0, 0, 100}, 80
			case op == 2:
				client.Proto, client.Dst, client.DstPort = balancer.UDP, [4]byte{10, 0, 0, 101}, 53
			default:
				client.Dst, client.DstPort = [4]byte{10, 0, 0, 101}, 53
			}
			switch op {
			case 0, 2:
				got := w.Inbound(src, client, fl, now)
				want := m.inbound(d, src, client, fl, now)
				if got != want {
					t.Fatalf("Inbound %+v flags %#x at %d: got %+v, want %+v", client, uint8(fl), now, got, want)
				}
			case 1:
				mc := m.conns[client]
				r := nat[int(arg>>1)%len(nat)]
				if mc != nil && arg&2 == 0 {
					r = mc.real
				}
				rt := connReply(client, r)
				got := w.Outbound(src, rt, fl, now)
				var want OutboundResult
				if mc != nil && mc.real == r && mc.real.Method == balancer.NAT {
					if !now.before(mc.expires) {
						m.remove(client)
					} else {
						m.update(mc, client.Proto, true, fl, now, d)
						want = OutboundResult{Action: ActionForward, VIP: client.Dst, VPort: client.DstPort, Real: r.ID}
					}
				}
				if got != want {
					t.Fatalf("Outbound %+v: got %+v, want %+v", rt, got, want)
				}
			case 3:
				now += Tick(arg) * 997
			case 4:
				d.Sweep(src, now, d.Slots())
				for k, c := range m.conns {
					if !now.before(c.expires) {
						m.remove(k)
					}
				}
				if d.Len() != len(m.conns) {
					t.Fatalf("after sweep: %d entries, model %d", d.Len(), len(m.conns))
				}
				for _, r := range append(nat, dr...) {
					want := connCounts{}
					if c := m.count[r]; c != nil {
						want = *c
					}
					if got := connCountsOf(r); got != want {
						t.Fatalf("real %v connCounts %+v, model %+v", r.AddrPort(), got, want)
					}
				}
			}
			// Side-effect-free lookups agree with the model for this client.
			info, ok := d.LookupInbound(client, now)
			mc := m.conns[client]
			live := mc != nil && now.before(mc.expires)
			if ok != live || ok && (info.State != mc.state || info.RealID != mc.real.ID || info.Expires != mc.expires) {
				t.Fatalf("LookupInbound %+v: %+v %v, model %+v", client, info, ok, mc)
			}
		}
	})
}

func (m *connModel) inbound(d *Tracker, src *connTestSource, t Tuple4, f TCPFlags, now Tick) InboundResult {
	if c := m.conns[t]; c != nil {
		switch {
		case !now.before(c.expires):
			m.remove(t)
		case t.Proto == balancer.TCP && f&TCPSyn != 0 && (c.state == StateTimeWait || c.state == StateClose):
			m.remove(t) // conn_reuse_mode 1
		default:
			m.update(c, t.Proto, false, f, now, d)
			return InboundResult{Action: ActionForward, Real: c.real}
		}
	}
	svc := src.LookupV4(t.Proto, t.Dst, t.DstPort)
	if t.Proto == balancer.TCP && (f&TCPSyn == 0 || f&TCPRst != 0) {
		return InboundResult{Action: ActionDrop, Reason: DropNotSYN}
	}
	r := svc.Sched.Schedule(&balancer.Flow{SrcPort: t.SrcPort})
	c := &connModelEntry{real: r, inactive: true, noOutput: r.Method != balancer.NAT}
	if t.Proto == balancer.UDP {
		c.state = StateUDP
	}
	m.bind(r, false, 1)
	m.conns[t] = c
	m.update(c, t.Proto, false, f, now, d)
	return InboundResult{Action: ActionForward, Real: r, Service: svc, New: true}
}
