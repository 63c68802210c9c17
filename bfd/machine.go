package bfd

import (
	"time"
)

// slowTx is the least Desired Min TX Interval while a session is not Up
// (RFC 5880 section 6.8.3: not less than one second).
const slowTx = time.Second

// Config are one session's local parameters: keepalived's bfd_instance
// timers.
type Config struct {
	// DesiredMinTx is the interval we want to send at while Up (min_tx).
	DesiredMinTx time.Duration
	// RequiredMinRx is the fastest we accept packets (min_rx).
	RequiredMinRx time.Duration
	// IdleTx is the interval we offer while not Up (idle_tx); it is
	// raised to one second when shorter.
	IdleTx time.Duration
	// DetectMult is the number of our intervals the peer waits before
	// declaring the session down (multiplier).
	DetectMult uint8
	// Passive sends nothing until the peer has been heard.
	Passive bool
}

// Action is what the runner must do after a step of a Machine.
type Action uint8

// The actions.
const (
	Send    Action = 1 << iota // send a control packet now (AppendPacket)
	Changed                    // the session state changed
)

// Has reports whether a contains b.
func (a Action) Has(b Action) bool { return a&b != 0 }

// Machine is one session's RFC 5880 state machine and timers. It has no
// goroutines, sockets or clock: every method takes the current time.
// The zero value is not usable; call NewMachine.
type Machine struct {
	cfg   Config
	rnd   func(n int64) int64
	state State
	diag  Diag
	since time.Time

	localDisc, remoteDisc uint32
	remoteState           State
	remoteDiag            Diag
	remoteMinRx           time.Duration // bfd.RemoteMinRxInterval
	remoteMinTx           time.Duration // the peer's last Desired Min TX
	remoteMult            uint8
	remoteDemand          bool

	desiredTx time.Duration // bfd.DesiredMinTxInterval, as we advertise it
	poll      bool          // a Poll Sequence is running
	final     bool          // a Final is owed to the peer's Poll
	nextTx    time.Time
	detectAt  time.Time // zero when the peer is not being watched
	stopTxAt  time.Time // AdminDown: when to stop announcing it
	silent    bool      // AdminDown, announced: nothing more to send
}

// NewMachine returns a session in state Down with local discriminator
// disc (non-zero, unique among the caller's sessions). rnd returns a
// number in [0, n) for the transmit jitter.
func NewMachine(cfg Config, disc uint32, rnd func(n int64) int64) *Machine {
	if cfg.DetectMult == 0 {
		cfg.DetectMult = 1
	}
	return &Machine{cfg: cfg, rnd: rnd, state: Down, localDisc: disc, remoteState: Down,
		remoteMinRx: time.Microsecond, desiredTx: max(cfg.IdleTx, slowTx)}
}

// State is the local session state.
func (m *Machine) State() State { return m.state }

// Diag is the local diagnostic: why the session last went down.
func (m *Machine) Diag() Diag { return m.diag }

// Since is when the state last changed (the Start time at first).
func (m *Machine) Since() time.Time { return m.since }

// LocalDisc and RemoteDisc are the session's discriminators; RemoteDisc
// is 0 while the peer is not heard.
func (m *Machine) LocalDisc() uint32  { return m.localDisc }
func (m *Machine) RemoteDisc() uint32 { return m.remoteDisc }

// RemoteState and RemoteDiag are the peer's, from its last packet.
func (m *Machine) RemoteState() State { return m.remoteState }
func (m *Machine) RemoteDiag() Diag   { return m.remoteDiag }

// Polling reports whether a Poll Sequence is running.
func (m *Machine) Polling() bool { return m.poll }

// TxInterval is the negotiated transmit interval before jitter: the
// larger of our Desired Min TX and the peer's Required Min RX.
func (m *Machine) TxInterval() time.Duration { return max(m.desiredTx, m.remoteMinRx) }

// DetectTime is how long the peer may stay silent before the session
// goes down: its Detect Mult times its agreed transmit interval (the
// larger of our Required Min RX and its Desired Min TX). It is 0 before
// the peer is heard.
func (m *Machine) DetectTime() time.Duration {
	return time.Duration(m.remoteMult) * max(m.cfg.RequiredMinRx, m.remoteMinTx)
}

// Start begins the session at now: an active session sends its first
// packet at once.
func (m *Machine) Start(now time.Time) Action {
	m.since = now
	m.nextTx = now
	if m.periodic(now) {
		return Send
	}
	return 0
}

// Deadline is when Tick must next run; zero when nothing is pending.
func (m *Machine) Deadline() time.Time {
	d := m.detectAt
	if m.periodic(m.nextTx) && (d.IsZero() || m.nextTx.Before(d)) {
		d = m.nextTx
	}
	return d
}

// periodic reports whether periodic packets are due at t (RFC 5880
// section 6.8.7).
func (m *Machine) periodic(t time.Time) bool {
	switch {
	case m.state == AdminDown:
		return !m.silent && t.Before(m.stopTxAt)
	case m.remoteMinRx == 0:
		return false // the peer asked for none
	case m.cfg.Passive && m.remoteDisc == 0:
		return false
	case m.remoteDemand && m.state == Up && m.remoteState == Up:
		return false
	}
	return true
}

// Tick runs the timers: the detection timer (the session goes down when
// the peer has been silent for the detection time) and the transmit
// timer.
func (m *Machine) Tick(now time.Time) Action {
	var act Action
	if m.state == AdminDown && !now.Before(m.stopTxAt) {
		m.silent = true
	}
	if !m.detectAt.IsZero() && !now.Before(m.detectAt) {
		// RFC 5880 6.8.1: a peer silent for a detection time is forgotten.
		m.detectAt = time.Time{}
		m.remoteDisc, m.remoteState = 0, Down
		if m.state == Init || m.state == Up {
			m.setState(now, Down, DiagTimeExpired)
			act |= Changed
		}
	}
	if m.periodic(now) && !now.Before(m.nextTx) {
		act |= Send
	}
	return act
}

// Receive runs the state machine of RFC 5880 section 6.8.6 for c, a
// packet Parse accepted and the caller matched to this session (and
// whose TTL it checked). Packets are ignored in AdminDown.
func (m *Machine) Receive(now time.Time, c Control) Action {
	if m.state == AdminDown {
		return 0
	}
	m.remoteDisc = c.MyDisc()
	m.remoteState = c.State()
	m.remoteDiag = c.Diag()
	m.remoteDemand = c.Demand()
	m.remoteMinRx = c.RequiredMinRx()
	m.remoteMinTx = c.DesiredMinTx()
	m.remoteMult = c.DetectMult()
	var act Action
	if c.Final() {
		m.poll = false
	}
	if c.Poll() {
		m.final = true
		act |= Send
	}
	old := m.state
	switch {
	case m.remoteState == AdminDown:
		if m.state != Down {
			m.setState(now, Down, DiagNeighborDown)
		}
	case m.state == Down && m.remoteState == Down:
		m.setState(now, Init, m.diag)
	case m.state == Down && m.remoteState == Init,
		m.state == Init && (m.remoteState == Init || m.remoteState == Up):
		m.setState(now, Up, DiagNone)
	case m.state == Up && m.remoteState == Down:
		m.setState(now, Down, DiagNeighborDown)
	}
	if m.state != old {
		act |= Changed
	}
	m.detectAt = now.Add(m.DetectTime())
	// A shorter interval (the peer lowered its Required Min RX, or we came
	// Up) applies at once rather than after the packet already scheduled.
	if next := now.Add(m.TxInterval()); next.Before(m.nextTx) {
		m.nextTx = now.Add(m.jitter(m.TxInterval()))
	}
	if m.periodic(now) && m.nextTx.IsZero() {
		m.nextTx = now
	}
	if m.periodic(now) && !now.Before(m.nextTx) {
		act |= Send // a passive session answers the first packet it hears
	}
	return act
}

// setState moves to s and sets the interval we advertise: the configured
// one while Up, at least one second otherwise. Changing it while Up
// starts a Poll Sequence (RFC 5880 section 6.8.3).
func (m *Machine) setState(now time.Time, s State, d Diag) {
	m.state, m.diag, m.since = s, d, now
	want := max(m.cfg.IdleTx, slowTx)
	if s == Up {
		want = m.cfg.DesiredMinTx
	}
	if want != m.desiredTx {
		m.desiredTx = want
		if s == Up {
			m.poll = true
		}
	}
	if s != Up {
		m.poll = false
	}
}

// Shutdown takes the session AdminDown: it announces that for one
// detection time of the peer, then falls silent, and ignores packets.
func (m *Machine) Shutdown(now time.Time) Action {
	if m.state == AdminDown {
		return 0
	}
	m.setState(now, AdminDown, DiagAdminDown)
	m.detectAt = time.Time{}
	m.stopTxAt = now.Add(time.Duration(m.cfg.DetectMult) * m.TxInterval())
	m.nextTx = now
	return Send | Changed
}

// AppendPacket appends the control packet to send now to b and schedules
// the next periodic one.
func (m *Machine) AppendPacket(now time.Time, b []byte) []byte {
	f := Fields{State: m.state, Diag: m.diag, Poll: m.poll && !m.final, Final: m.final,
		DetectMult: m.cfg.DetectMult, MyDisc: m.localDisc, YourDisc: m.remoteDisc,
		DesiredMinTx: m.desiredTx, RequiredMinRx: m.cfg.RequiredMinRx}
	m.final = false
	m.nextTx = now.Add(m.jitter(m.TxInterval()))
	return AppendControl(b, &f)
}

// jitter returns d reduced by a random 0-25 %, or 10-25 % when our
// Detect Mult is 1 (RFC 5880 section 6.8.7).
func (m *Machine) jitter(d time.Duration) time.Duration {
	lo, hi := d*3/4, d
	if m.cfg.DetectMult == 1 {
		hi = d * 9 / 10
	}
	if hi <= lo || m.rnd == nil {
		return lo
	}
	return lo + time.Duration(m.rnd(int64(hi-lo)+1))
}
