package conntrack

import (
	"sync/atomic"
	"time"

	"github.com/ulvs/ulvs/balancer"
)

//go:generate go tool stringer -type=ConnState -linecomment -output=state_string.go

// ConnState is the state of a connection entry, as IPVS tracks it: the TCP
// states of ip_vs_proto_tcp.c plus one state for every UDP entry. Its
// String is the name ipvsadm -Lnc prints in its state column.
type ConnState uint8

// The connection states, numbered as in IPVS (IP_VS_TCP_S_*), followed by
// UDP's single NORMAL state.
const (
	StateNone        ConnState = iota // NONE
	StateEstablished                  // ESTABLISHED
	StateSynSent                      // SYN_SENT
	StateSynRecv                      // SYN_RECV
	StateFinWait                      // FIN_WAIT
	StateTimeWait                     // TIME_WAIT
	StateClose                        // CLOSE
	StateCloseWait                    // CLOSE_WAIT
	StateLastAck                      // LAST_ACK
	StateListen                       // LISTEN
	StateSynAck                       // SYNACK
	StateUDP                          // UDP

	numConnStates
)

// Active reports whether IPVS counts a connection in state s as active:
// ESTABLISHED, SYN_SENT, SYN_RECV and SYNACK (tcp_state_active_table).
// Every other state, UDP's included, counts as inactive.
func (s ConnState) Active() bool {
	switch s {
	case StateEstablished, StateSynSent, StateSynRecv, StateSynAck:
		return true
	}
	return false
}

func (s ConnState) kind() balancer.ConnKind {
	if s.Active() {
		return balancer.ConnActive
	}
	return balancer.ConnInactive
}

// TCPFlags is the flags byte of a TCP header (offset 13), passed as read.
type TCPFlags uint8

// The TCP flag bits the state machine looks at.
const (
	TCPFin TCPFlags = 0x01
	TCPSyn TCPFlags = 0x02
	TCPRst TCPFlags = 0x04
	TCPAck TCPFlags = 0x10
)

// tcpView is the direction a packet is judged from. NAT connections see both
// directions (input from the client, output from the real server); DR and
// TUN connections only see the client's half and use the input-only view
// until an output packet is ever seen (IP_VS_CONN_F_NOOUTPUT).
type tcpView uint8

const (
	viewInput tcpView = iota
	viewOutput
	viewInputOnly
)

// tcpEvent orders the flags by IPVS's precedence: rst > syn > fin > ack.
// A segment carrying none of them moves the entry to CLOSE, as in IPVS.
func tcpEvent(f TCPFlags) int {
	switch {
	case f&TCPRst != 0:
		return 3
	case f&TCPSyn != 0:
		return 0
	case f&TCPFin != 0:
		return 1
	case f&TCPAck != 0:
		return 2
	}
	return -1
}

// tcpNext is IPVS's tcp_states table (the normal one, not secure_tcp's):
// tcpNext[view][event][current] is the next state. Rows are syn, fin, ack,
// rst; columns are NONE ES SS SR FW TW CL CW LA LI SA.
var tcpNext = func() (t [3][4][StateSynAck + 1]ConnState) {
	const (
		NO = StateNone
		ES = StateEstablished
		SS = StateSynSent
		SR = StateSynRecv
		FW = StateFinWait
		TW = StateTimeWait
		CL = StateClose
		CW = StateCloseWait
		LA = StateLastAck
		LI = StateListen
		SA = StateSynAck
	)
	_ = NO
	t[viewInput] = [4][StateSynAck + 1]ConnState{
		/* syn */ {SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR},
		/* fin */ {CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW},
		/* ack */ {ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES},
		/* rst */ {CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR},
	}
	t[viewOutput] = [4][StateSynAck + 1]ConnState{
		/* syn */ {SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR},
		/* fin */ {TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW},
		/* ack */ {ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES},
		/* rst */ {CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL},
	}
	t[viewInputOnly] = [4][StateSynAck + 1]ConnState{
		/* syn */ {SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR},
		/* fin */ {CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW},
		/* ack */ {ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES},
		/* rst */ {CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL},
	}
	return t
}()

// nextTCPState returns the state after a segment with flags f seen in view v.
func nextTCPState(cur ConnState, v tcpView, f TCPFlags) ConnState {
	ev := tcpEvent(f)
	if ev < 0 || cur > StateSynAck {
		return StateClose
	}
	return tcpNext[v][ev][cur]
}

// Tick is the connection table's coarse clock in milliseconds. The packet
// loop reads the time once per batch and passes it in; nothing in the table
// reads the clock itself, so tests drive time by hand. Tick wraps after
// about 49.7 days; comparisons are wrap-safe as long as no timeout exceeds
// MaxTimeout and the sweep visits every entry more often than that.
type Tick uint32

// MaxTimeout is the longest timeout a Tick comparison can represent; longer
// timeouts are clamped to it.
const MaxTimeout = time.Duration(1<<31-1) * time.Millisecond

// Ticks converts a duration to clock ticks, clamped to [0, MaxTimeout].
func Ticks(d time.Duration) Tick {
	if d <= 0 {
		return 0
	}
	if d > MaxTimeout {
		d = MaxTimeout
	}
	return Tick(d / time.Millisecond)
}

// Duration converts ticks back to a duration.
func (t Tick) Duration() time.Duration { return time.Duration(t) * time.Millisecond }

// before reports whether t is strictly earlier than u, wrap-safe.
func (t Tick) before(u Tick) bool { return int32(t-u) < 0 }

// DefaultTimeouts are IPVS's per-state timeouts (tcp_timeouts, udp_timeouts).
var DefaultTimeouts = [numConnStates]time.Duration{
	StateNone:        2 * time.Second,
	StateEstablished: 900 * time.Second,
	StateSynSent:     120 * time.Second,
	StateSynRecv:     60 * time.Second,
	StateFinWait:     120 * time.Second,
	StateTimeWait:    120 * time.Second,
	StateClose:       10 * time.Second,
	StateCloseWait:   60 * time.Second,
	StateLastAck:     30 * time.Second,
	StateListen:      120 * time.Second,
	StateSynAck:      120 * time.Second,
	StateUDP:         300 * time.Second,
}

// timeoutTable holds the per-state timeouts in ticks. Workers read it on
// every packet and the control plane may change it at any time, so each
// slot is an atomic.
type timeoutTable [numConnStates]atomic.Uint32

func (t *timeoutTable) init() {
	for s, d := range DefaultTimeouts {
		t[s].Store(uint32(Ticks(d)))
	}
}

func (t *timeoutTable) of(s ConnState) Tick { return Tick(t[s].Load()) }
