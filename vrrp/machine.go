package vrrp

import (
	"bytes"
	"time"
)

// State is an instance's VRRP state. Init, Backup and Master are RFC 5798's;
// Fault and Stopped are keepalived's additions (a tracked interface or
// script failed; the instance was shut down).
type State uint8

//go:generate go tool stringer -type State -linecomment

// The states. The line comment is keepalived's spelling, which notify
// scripts receive and `go generate` makes String return.
const (
	Init    State = iota // INIT
	Backup               // BACKUP
	Master               // MASTER
	Fault                // FAULT
	Stopped              // STOP
)

// Action is a set of things the runner must do after a step of a Machine,
// in this order: send advertisements first (so the old master drops the
// addresses before our gratuitous ARPs, as keepalived does), then claim or
// release the addresses, then announce, then notify.
type Action uint8

// The actions.
const (
	SendAdvert Action = 1 << iota // send an advertisement at Priority()
	SendStop                      // send a priority-0 advertisement
	Claim                         // answer ARP for the addresses; start the gratuitous ARP schedule
	Release                       // stop answering; cancel the schedule
	Announce                      // resend gratuitous ARPs now (a lower priority master was heard)
	Changed                       // the state changed
)

// Has reports whether a contains b.
func (a Action) Has(b Action) bool { return a&b != 0 }

// MachineConfig are the protocol parameters of one virtual router.
type MachineConfig struct {
	Version  uint8 // 2 or 3
	Priority uint8 // 1..255; 255 owns the addresses
	// Interval is the advertisement interval: whole seconds for v2,
	// centiseconds for v3 (New rounds).
	Interval time.Duration
	// Preempt lets a higher-priority backup take over from a lower master
	// (the default); PreemptDelay holds that off after startup.
	Preempt      bool
	PreemptDelay time.Duration
	// Src is the address we advertise from; equal priorities are broken by
	// the higher source address.
	Src [4]byte
	// DownTimerAdverts is how many intervals make the master-down interval
	// (keepalived's down_timer_adverts; 0 means 3, RFC 5798's).
	DownTimerAdverts int
	// LowerPrioNoAdvert keeps a master silent when it hears a lower
	// priority (the pre-RFC 9568 behaviour).
	LowerPrioNoAdvert bool
	// HigherPrioSendAdvert makes a master that yields to a higher
	// priority send one more advertisement first, so that the new master
	// hears a lower priority and re-announces the addresses (keepalived's
	// higher_prio_send_advert; the cure for stale ARP caches after a split
	// brain heals, keepalived issues #160/#166).
	HigherPrioSendAdvert bool
}

// Machine is the RFC 5798 state machine of one virtual router, with
// keepalived's Fault and Stopped states. It has no goroutines, sockets or
// clock: each method takes the current time and returns the actions to
// perform, and Deadline says when Tick must be called next. It is not safe
// for concurrent use.
type Machine struct {
	cfg            MachineConfig
	state          State
	prio           uint8
	masterInterval time.Duration
	downAt         time.Time // Backup: the master-down timer
	advertAt       time.Time // Master: the advertisement timer
	preemptUntil   time.Time // Backup: lower priorities accepted until then
	master         [4]byte   // the current master's address, as far as we know
	since          time.Time
}

// NewMachine returns a machine in Init.
func NewMachine(cfg MachineConfig) *Machine {
	if cfg.DownTimerAdverts <= 0 {
		cfg.DownTimerAdverts = 3
	}
	cfg.Interval = RoundInterval(cfg.Version, cfg.Interval)
	return &Machine{cfg: cfg, prio: cfg.Priority, masterInterval: cfg.Interval}
}

// RoundInterval rounds d to what the version's advertisement carries:
// whole seconds (1..255) for v2, centiseconds (1..4095) for v3.
func RoundInterval(version uint8, d time.Duration) time.Duration {
	unit, most := 10*time.Millisecond, time.Duration(4095)
	if version == 2 {
		unit, most = time.Second, 255
	}
	n := (d + unit/2) / unit
	n = min(max(n, 1), most)
	return n * unit
}

// State is the current state.
func (m *Machine) State() State { return m.state }

// Since is when the current state was entered.
func (m *Machine) Since() time.Time { return m.since }

// Priority is the effective priority advertisements carry.
func (m *Machine) Priority() uint8 { return m.prio }

// Interval is our advertisement interval.
func (m *Machine) Interval() time.Duration { return m.cfg.Interval }

// MasterInterval is the interval the current master advertises with (v3
// backups adopt it).
func (m *Machine) MasterInterval() time.Duration { return m.masterInterval }

// MasterAddr is the current master's address: ours when Master, the last
// accepted advertiser's when Backup.
func (m *Machine) MasterAddr() [4]byte {
	if m.state == Master {
		return m.cfg.Src
	}
	return m.master
}

// Skew is the skew time: (256-priority)/256 of a second for v2, of the
// master's interval for v3.
func (m *Machine) Skew() time.Duration {
	base := time.Second
	if m.cfg.Version == 3 {
		base = m.masterInterval
	}
	return time.Duration(256-int(m.prio)) * base / 256
}

// MasterDown is the master-down interval: DownTimerAdverts intervals of the
// master plus the skew time.
func (m *Machine) MasterDown() time.Duration {
	return time.Duration(m.cfg.DownTimerAdverts)*m.masterInterval + m.Skew()
}

// Deadline is when Tick must run next; zero when no timer is armed.
func (m *Machine) Deadline() time.Time {
	switch m.state {
	case Backup:
		return m.downAt
	case Master:
		return m.advertAt
	}
	return time.Time{}
}

// Start leaves Init: the owner (priority 255) becomes Master at once,
// everyone else Backup with the master-down timer armed (RFC 5798 6.4.1).
func (m *Machine) Start(now time.Time) Action {
	if m.state != Init {
		return 0
	}
	m.preemptUntil = now.Add(m.cfg.PreemptDelay)
	if m.prio == PriorityOwner {
		return m.becomeMaster(now)
	}
	return m.becomeBackup(now)
}

func (m *Machine) becomeMaster(now time.Time) Action {
	m.state, m.since = Master, now
	m.advertAt = now.Add(m.cfg.Interval)
	return SendAdvert | Claim | Changed
}

func (m *Machine) becomeBackup(now time.Time) Action {
	var a Action
	if m.state == Master {
		a |= Release
	}
	m.state, m.since = Backup, now
	m.downAt = now.Add(m.MasterDown())
	return a | Changed
}

// Tick fires the timers that are due: the master-down timer in Backup,
// the advertisement timer in Master.
func (m *Machine) Tick(now time.Time) Action {
	switch m.state {
	case Backup:
		if !now.Before(m.downAt) {
			m.masterInterval = m.cfg.Interval
			return m.becomeMaster(now)
		}
	case Master:
		if !now.Before(m.advertAt) {
			m.advertAt = now.Add(m.cfg.Interval)
			return SendAdvert
		}
	}
	return 0
}

// Receive handles an advertisement that passed the receive checks.
func (m *Machine) Receive(now time.Time, r Received) Action {
	switch m.state {
	case Backup:
		if r.Priority == PriorityStop {
			// The master resigned: take over after the skew time only.
			m.downAt = now.Add(m.Skew())
			return 0
		}
		if !m.cfg.Preempt || r.Priority >= m.prio || now.Before(m.preemptUntil) {
			if m.cfg.Version == 3 && r.Interval > 0 {
				m.masterInterval = r.Interval
			}
			m.master = r.Src
			m.downAt = now.Add(m.MasterDown())
		}
		// A lower priority with preempt on: discarded, so our down timer
		// runs out and we take over.
		return 0
	case Master:
		if r.Priority == PriorityStop {
			m.advertAt = now.Add(m.cfg.Interval)
			return SendAdvert
		}
		if r.Priority > m.prio || (r.Priority == m.prio && bytes.Compare(r.Src[:], m.cfg.Src[:]) > 0) {
			if m.cfg.Version == 3 && r.Interval > 0 {
				m.masterInterval = r.Interval
			}
			m.master = r.Src
			a := m.becomeBackup(now)
			if m.cfg.HigherPrioSendAdvert {
				a |= SendAdvert
			}
			return a
		}
		// A lower-priority master: a split brain healing, or a peer that
		// just started. Tell it (RFC 9568) and re-announce the addresses
		// so that ARP caches pointing at it are corrected.
		if m.cfg.LowerPrioNoAdvert {
			return Announce
		}
		return SendAdvert | Announce
	}
	return 0
}

// SetPriority changes the effective priority (tracked scripts and
// interfaces with weights). The owner's priority does not move.
func (m *Machine) SetPriority(p uint8) {
	if m.cfg.Priority == PriorityOwner {
		return
	}
	m.prio = min(max(p, 1), 254)
}

// SetFault enters Fault (a tracked interface or script failed) or leaves
// it for Backup. A master resigns with a priority-0 advertisement.
func (m *Machine) SetFault(now time.Time, fault bool) Action {
	switch {
	case fault && m.state != Fault && m.state != Stopped:
		var a Action
		if m.state == Master {
			a = SendStop | Release
		}
		m.state, m.since = Fault, now
		return a | Changed
	case !fault && m.state == Fault:
		m.master = [4]byte{}
		if m.prio == PriorityOwner {
			return m.becomeMaster(now)
		}
		return m.becomeBackup(now)
	}
	return 0
}

// Force moves the machine to s because a member of its sync group did.
func (m *Machine) Force(now time.Time, s State) Action {
	if s == m.state || m.state == Stopped || m.state == Init {
		return 0
	}
	switch s {
	case Master:
		if m.state == Backup {
			return m.becomeMaster(now)
		}
	case Backup:
		switch m.state {
		case Master:
			return m.becomeBackup(now)
		case Fault:
			return m.SetFault(now, false)
		}
	case Fault:
		return m.SetFault(now, true)
	}
	return 0
}

// Shutdown stops the machine; a master resigns with priority 0 so that a
// backup takes over after its skew time.
func (m *Machine) Shutdown(now time.Time) Action {
	if m.state == Stopped {
		return 0
	}
	var a Action
	if m.state == Master {
		a = SendStop | Release
	}
	m.state, m.since = Stopped, now
	return a | Changed
}
