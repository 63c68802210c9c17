package conntrack

import (
	"testing"
	"time"

	"github.com/ulvs/ulvs/balancer"
)

func TestNextTCPStateTable(t *testing.T) {
	// Spot checks against IPVS's tcp_states, one per row and view.
	tests := []struct {
		cur  ConnState
		view tcpView
		f    TCPFlags
		want ConnState
	}{
		{StateNone, viewInput, TCPSyn, StateSynRecv},
		{StateEstablished, viewInput, TCPFin | TCPAck, StateCloseWait},
		{StateSynRecv, viewInput, TCPAck, StateEstablished},
		{StateSynAck, viewInput, TCPRst, StateSynRecv},
		{StateLastAck, viewInput, TCPAck, StateClose},
		{StateNone, viewOutput, TCPSyn, StateSynSent},
		{StateEstablished, viewOutput, TCPFin, StateFinWait},
		{StateCloseWait, viewOutput, TCPFin, StateTimeWait},
		{StateListen, viewOutput, TCPAck, StateEstablished},
		{StateSynSent, viewOutput, TCPRst, StateSynSent},
		{StateTimeWait, viewOutput, TCPRst, StateTimeWait},
		{StateEstablished, viewInputOnly, TCPFin, StateFinWait},
		{StateSynAck, viewInputOnly, TCPRst, StateClose},
		{StateNone, viewInputOnly, TCPAck, StateEstablished},
		// Precedence rst > syn > fin > ack.
		{StateEstablished, viewInput, TCPSyn | TCPRst, StateClose},
		{StateNone, viewInput, TCPSyn | TCPFin, StateSynRecv},
		{StateEstablished, viewInput, TCPFin | TCPAck | TCPSyn, StateEstablished},
		// No flag at all closes, as IPVS does.
		{StateEstablished, viewInput, 0, StateClose},
		{StateEstablished, viewInput, 0x08, StateClose},
	}
	for _, tt := range tests {
		if got := nextTCPState(tt.cur, tt.view, tt.f); got != tt.want {
			t.Errorf("%v view %d flags %#x: got %v, want %v", tt.cur, tt.view, uint8(tt.f), got, tt.want)
		}
	}
}

// connStep is one packet of a state-machine sequence: its direction, flags, and
// the state and timeout expected after it.
type connStep struct {
	out   bool // reply from the real server (NAT only)
	flags TCPFlags
	state ConnState
	tmo   time.Duration
}

func TestTCPStateSequences(t *testing.T) {
	const (
		S = TCPSyn
		A = TCPAck
		F = TCPFin
		R = TCPRst
	)
	tests := []struct {
		name   string
		method balancer.Method
		steps  []connStep
	}{
		{"NAT client closes first", balancer.NAT, []connStep{
			{false, S, StateSynRecv, 60 * time.Second},
			{true, S | A, StateSynRecv, 60 * time.Second},
			{false, A, StateEstablished, 900 * time.Second},
			{true, A, StateEstablished, 900 * time.Second},
			{false, F | A, StateCloseWait, 60 * time.Second},
			{true, A, StateCloseWait, 60 * time.Second},
			{true, F | A, StateTimeWait, 120 * time.Second},
			{false, A, StateTimeWait, 120 * time.Second},
		}},
		{"NAT server closes first", balancer.NAT, []connStep{
			{false, S, StateSynRecv, 60 * time.Second},
			{true, S | A, StateSynRecv, 60 * time.Second},
			{false, A, StateEstablished, 900 * time.Second},
			{true, F | A, StateFinWait, 120 * time.Second},
			{false, A, StateFinWait, 120 * time.Second},
			{false, F | A, StateTimeWait, 120 * time.Second},
		}},
		{"NAT reset by server", balancer.NAT, []connStep{
			{false, S, StateSynRecv, 60 * time.Second},
			{true, R, StateClose, 10 * time.Second},
		}},
		{"NAT reset by client", balancer.NAT, []connStep{
			{false, S, StateSynRecv, 60 * time.Second},
			{false, A, StateEstablished, 900 * time.Second},
			{false, R | A, StateClose, 10 * time.Second},
		}},
		{"DR input only", balancer.DR, []connStep{
			{false, S, StateSynRecv, 60 * time.Second},
			{false, A, StateEstablished, 900 * time.Second},
			{false, F | A, StateFinWait, 120 * time.Second},
			{false, A, StateFinWait, 120 * time.Second},
			{false, R, StateClose, 10 * time.Second},
		}},
		{"TUN retransmitted SYN", balancer.TUN, []connStep{
			{false, S, StateSynRecv, 60 * time.Second},
			{false, S, StateSynRecv, 60 * time.Second},
			{false, A, StateEstablished, 900 * time.Second},
			{false, S, StateEstablished, 900 * time.Second},
		}},
		{"flagless segment closes", balancer.NAT, []connStep{
			{false, S, StateSynRecv, 60 * time.Second},
			{false, A, StateEstablished, 900 * time.Second},
			{false, 0, StateClose, 10 * time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newConnTestReal("10.0.2.1", 8080, tt.method)
			src := newConnTestSource(newConnTestService(balancer.TCP, "10.0.0.100", 80, r))
			d := newConnTestDirector(t, Config{MaxConns: 100})
			w := d.NewWorker()
			c := connTup(balancer.TCP, "10.0.1.5:40000", "10.0.0.100:80")
			now := Tick(5)
			for i, s := range tt.steps {
				now += 1234
				if s.out {
					if res := w.Outbound(src, connReply(c, r), s.flags, now); res.Action != ActionForward {
						t.Fatalf("connStep %d: outbound %+v", i, res)
					}
				} else if res := w.Inbound(src, c, s.flags, now); res.Action != ActionForward {
					t.Fatalf("connStep %d: inbound %+v", i, res)
				}
				info, ok := d.LookupInbound(c, now)
				if !ok || info.State != s.state || info.Remaining(now) != s.tmo {
					t.Fatalf("connStep %d (flags %#x): state %v timeout %v, want %v %v", i, uint8(s.flags), info.State, info.Remaining(now), s.state, s.tmo)
				}
				want := connCounts{active: 1}
				if !s.state.Active() {
					want = connCounts{inactive: 1}
				}
				if got := connCountsOf(r); got != want {
					t.Fatalf("connStep %d: connCounts %+v in %v, want %+v", i, got, s.state, want)
				}
				// The entry lives exactly its timeout.
				if _, ok := d.LookupInbound(c, now+Ticks(s.tmo)-1); !ok {
					t.Fatalf("connStep %d: expired early", i)
				}
				if _, ok := d.LookupInbound(c, now+Ticks(s.tmo)); ok {
					t.Fatalf("connStep %d: alive past its timeout", i)
				}
			}
			d.Sweep(src, now+Ticks(time.Hour), d.Slots())
			if got := connCountsOf(r); got != (connCounts{}) || d.Len() != 0 {
				t.Errorf("after expiry connCounts %+v len %d", got, d.Len())
			}
		})
	}
}

func TestLazyExpiryUnbinds(t *testing.T) {
	r1 := newConnTestReal("10.0.2.1", 80, balancer.NAT)
	r2 := newConnTestReal("10.0.2.2", 80, balancer.NAT)
	src := newConnTestSource(newConnTestService(balancer.TCP, "10.0.0.100", 80, r1, r2))
	d := newConnTestDirector(t, Config{MaxConns: 100})
	w := d.NewWorker()
	c := connTup(balancer.TCP, "10.0.1.5:40000", "10.0.0.100:80")
	w.Inbound(src, c, TCPSyn, 0)
	// 61 s later the SYN_RECV entry is dead: an ACK cannot revive it, and
	// the entry is unbound on the spot.
	if res := w.Inbound(src, c, TCPAck, 61*connSec); res.Action != ActionDrop || res.Reason != DropNotSYN {
		t.Fatalf("ACK on expired entry: %+v", res)
	}
	if connCountsOf(r1) != (connCounts{}) || d.Len() != 0 {
		t.Errorf("connCounts %+v len %d", connCountsOf(r1), d.Len())
	}
	if res := w.Inbound(src, c, TCPSyn, 62*connSec); res.Real != r2 || !res.New {
		t.Errorf("new SYN: %+v", res)
	}
	// An expired NAT entry does not match replies either.
	if res := w.Outbound(src, connReply(c, r2), TCPAck, 200*connSec); res.Action != ActionNotService {
		t.Errorf("reply on expired entry: %+v", res)
	}
	if connCountsOf(r2) != (connCounts{}) || d.Len() != 0 {
		t.Errorf("connCounts %+v len %d", connCountsOf(r2), d.Len())
	}
	if c := d.Counters(); c.Expired != 2 {
		t.Errorf("Expired = %d", c.Expired)
	}
}

func TestConnStateStrings(t *testing.T) {
	if StateSynAck.String() != "SYNACK" || StateUDP.String() != "UDP" || ConnState(99).String() != "ConnState(99)" {
		t.Error("state names")
	}
	if Ticks(-1) != 0 || Ticks(MaxTimeout*2) != Ticks(MaxTimeout) || Ticks(1500*time.Millisecond) != 1500 {
		t.Error("Ticks conversion")
	}
	// Wrap-safe comparison across the uint32 boundary.
	if !(Tick(0xffffff00)).before(Tick(0x10)) {
		t.Error("wrap")
	}
}
