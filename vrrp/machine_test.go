package vrrp

import (
	"testing"
	"time"
)

var (
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	addrA = [4]byte{10, 0, 0, 1}
	addrB = [4]byte{10, 0, 0, 2}
)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestTimers(t *testing.T) {
	cases := []struct {
		name       string
		cfg        MachineConfig
		skew, down time.Duration
	}{
		// keepalived's 3.609 s for priority 100 with 1 s adverts.
		{"v2 prio 100", MachineConfig{Version: 2, Priority: 100, Interval: time.Second}, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{"v2 prio 254", MachineConfig{Version: 2, Priority: 254, Interval: 3 * time.Second}, 7812500 * time.Nanosecond, 9007812500 * time.Nanosecond},
		// v3: skew scales with the interval.
		{"v3 prio 100 at 0.1s", MachineConfig{Version: 3, Priority: 100, Interval: 100 * time.Millisecond}, 60937500 * time.Nanosecond, 360937500 * time.Nanosecond},
		{"v3 prio 200 at 1s", MachineConfig{Version: 3, Priority: 200, Interval: time.Second}, 218750 * time.Microsecond, 3218750 * time.Microsecond},
		{"down_timer_adverts 5", MachineConfig{Version: 3, Priority: 100, Interval: time.Second, DownTimerAdverts: 5}, 609375 * time.Microsecond, 5609375 * time.Microsecond},
	}
	for _, c := range cases {
		m := NewMachine(c.cfg)
		if m.Skew() != c.skew || m.MasterDown() != c.down {
			t.Errorf("%s: skew %v down %v; want %v %v", c.name, m.Skew(), m.MasterDown(), c.skew, c.down)
		}
	}
}

// step is one event of a scripted scenario and what must follow.
type step struct {
	at      time.Duration
	event   string // "start", "tick", "recv", "fault", "unfault", "shutdown", "force-master", "force-backup", "prio"
	prio    uint8
	src     [4]byte
	intv    time.Duration
	want    Action
	state   State
	comment string
}

func run(t *testing.T, m *Machine, steps []step) {
	t.Helper()
	for i, s := range steps {
		now := at(s.at)
		var a Action
		switch s.event {
		case "start":
			a = m.Start(now)
		case "tick":
			a = m.Tick(now)
		case "recv":
			a = m.Receive(now, Received{Src: s.src, Priority: s.prio, Interval: s.intv})
		case "fault":
			a = m.SetFault(now, true)
		case "unfault":
			a = m.SetFault(now, false)
		case "shutdown":
			a = m.Shutdown(now)
		case "force-master":
			a = m.Force(now, Master)
		case "force-backup":
			a = m.Force(now, Backup)
		case "prio":
			m.SetPriority(s.prio)
		default:
			t.Fatalf("unknown event %q", s.event)
		}
		if a != s.want || m.State() != s.state {
			t.Fatalf("step %d (%s at %v, %s): actions %06b state %v; want %06b %v",
				i, s.event, s.at, s.comment, a, m.State(), s.want, s.state)
		}
	}
}

const ms = time.Millisecond

func TestBackupTakesOverWhenMasterSilent(t *testing.T) {
	m := NewMachine(MachineConfig{Version: 3, Priority: 100, Interval: 100 * ms, Preempt: true, Src: addrA})
	// master-down = 300ms + 60.9375ms
	run(t, m, []step{
		{at: 0, event: "start", want: Changed, state: Backup},
		{at: 100 * ms, event: "recv", prio: 150, src: addrB, intv: 100 * ms, state: Backup, comment: "master heard"},
		{at: 460 * ms, event: "tick", state: Backup, comment: "timer rearmed by the advert"},
		{at: 460*ms + 937500, event: "tick", want: SendAdvert | Claim | Changed, state: Master},
		{at: 500 * ms, event: "tick", state: Master},
		{at: 560*ms + 937500, event: "tick", want: SendAdvert, state: Master},
	})
	if m.Deadline() != at(660*ms+937500) {
		t.Fatalf("next advert at %v", m.Deadline().Sub(t0))
	}
}

func TestV3BackupAdoptsMasterInterval(t *testing.T) {
	m := NewMachine(MachineConfig{Version: 3, Priority: 100, Interval: time.Second, Preempt: true, Src: addrA})
	m.Start(t0)
	m.Receive(at(10*ms), Received{Src: addrB, Priority: 200, Interval: 200 * ms})
	if m.MasterInterval() != 200*ms || m.Deadline() != at(10*ms+600*ms+121875*time.Microsecond) {
		t.Fatalf("master interval %v, deadline %v", m.MasterInterval(), m.Deadline().Sub(t0))
	}
	// v2 never adopts (its interval must match or the packet is dropped).
	m2 := NewMachine(MachineConfig{Version: 2, Priority: 100, Interval: time.Second, Preempt: true})
	m2.Start(t0)
	m2.Receive(t0, Received{Src: addrB, Priority: 200, Interval: 2 * time.Second})
	if m2.MasterInterval() != time.Second {
		t.Fatalf("v2 adopted %v", m2.MasterInterval())
	}
}

func TestOwnerBecomesMasterAtOnce(t *testing.T) {
	m := NewMachine(MachineConfig{Version: 2, Priority: 255, Interval: time.Second, Src: addrA})
	run(t, m, []step{
		{at: 0, event: "start", want: SendAdvert | Claim | Changed, state: Master},
		{at: 10 * ms, event: "recv", prio: 254, src: addrB, want: SendAdvert | Announce, state: Master},
		{at: 20 * ms, event: "prio", prio: 10, state: Master, comment: "owner priority fixed"},
	})
	if m.Priority() != 255 {
		t.Fatalf("owner priority moved to %d", m.Priority())
	}
}

func TestPriorityZeroMeansFastTakeover(t *testing.T) {
	m := NewMachine(MachineConfig{Version: 3, Priority: 100, Interval: 100 * ms, Preempt: true, Src: addrA})
	run(t, m, []step{
		{at: 0, event: "start", want: Changed, state: Backup},
		{at: 50 * ms, event: "recv", prio: 200, src: addrB, intv: 100 * ms, state: Backup},
		{at: 100 * ms, event: "recv", prio: 0, src: addrB, intv: 100 * ms, state: Backup, comment: "master resigns"},
		// Skew time 60.9375ms, not the master-down interval.
		{at: 160 * ms, event: "tick", state: Backup},
		{at: 160*ms + 937500, event: "tick", want: SendAdvert | Claim | Changed, state: Master},
	})
}

func TestMasterAnswersResignationWithAdvert(t *testing.T) {
	m := NewMachine(MachineConfig{Version: 3, Priority: 255, Interval: 100 * ms, Src: addrA})
	run(t, m, []step{
		{at: 0, event: "start", want: SendAdvert | Claim | Changed, state: Master},
		{at: 30 * ms, event: "recv", prio: 0, src: addrB, want: SendAdvert, state: Master},
	})
	if m.Deadline() != at(130*ms) {
		t.Fatalf("advert timer not reset: %v", m.Deadline().Sub(t0))
	}
}

func TestMasterYieldsToHigherPriorityAndTieBreak(t *testing.T) {
	cases := []struct {
		name  string
		prio  uint8
		src   [4]byte
		want  Action
		state State
	}{
		{"higher priority", 150, addrA, Release | Changed, Backup},
		{"equal priority, higher address", 100, [4]byte{10, 0, 0, 3}, Release | Changed, Backup},
		{"equal priority, lower address", 100, addrA, SendAdvert | Announce, Master},
		{"lower priority", 99, [4]byte{10, 0, 0, 200}, SendAdvert | Announce, Master},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMachine(MachineConfig{Version: 3, Priority: 100, Interval: 100 * ms, Preempt: true, Src: addrB})
			m.Start(t0)
			m.Tick(at(time.Second)) // nobody else: master
			run(t, m, []step{{at: time.Second + ms, event: "recv", prio: c.prio, src: c.src, intv: 100 * ms,
				want: c.want, state: c.state}})
		})
	}
}

func TestHigherPrioSendAdvert(t *testing.T) {
	m := NewMachine(MachineConfig{Version: 3, Priority: 100, Interval: 100 * ms, Src: addrA, HigherPrioSendAdvert: true})
	m.Start(t0)
	m.Tick(at(time.Second))
	if a := m.Receive(at(time.Second+ms), Received{Src: addrB, Priority: 200}); a != SendAdvert|Release|Changed || m.State() != Backup {
		t.Fatalf("yielding master: actions %06b state %v; want one last advert, release, backup", a, m.State())
	}
}

func TestLowerPrioNoAdvert(t *testing.T) {
	m := NewMachine(MachineConfig{Version: 2, Priority: 255, Interval: time.Second, LowerPrioNoAdvert: true})
	m.Start(t0)
	if a := m.Receive(t0, Received{Src: addrB, Priority: 100}); a != Announce {
		t.Fatalf("actions %06b; want Announce only", a)
	}
}

func TestPreemptModes(t *testing.T) {
	master := Received{Src: addrB, Priority: 100, Interval: time.Second}
	t.Run("preempt: higher backup ignores the lower master and takes over", func(t *testing.T) {
		m := NewMachine(MachineConfig{Version: 2, Priority: 150, Interval: time.Second, Preempt: true, Src: addrA})
		m.Start(t0)
		for i := range 3 {
			m.Receive(at(time.Duration(i)*time.Second), master)
		}
		// Down timer from start: 3s + (106/256)s = 3.4140625s.
		if a := m.Tick(at(3414062500)); !a.Has(Claim) {
			t.Fatalf("no takeover: %06b %v", a, m.State())
		}
	})
	t.Run("nopreempt: stays backup while the lower master speaks", func(t *testing.T) {
		m := NewMachine(MachineConfig{Version: 2, Priority: 150, Interval: time.Second, Preempt: false, Src: addrA})
		m.Start(t0)
		for i := range 10 {
			now := at(time.Duration(i) * time.Second)
			m.Receive(now, master)
			if a := m.Tick(now.Add(999 * ms)); a != 0 {
				t.Fatalf("acted at %v: %06b", i, a)
			}
		}
		if m.State() != Backup {
			t.Fatal(m.State())
		}
	})
	t.Run("preempt_delay: accepts the lower master until the delay ends", func(t *testing.T) {
		m := NewMachine(MachineConfig{Version: 2, Priority: 150, Interval: time.Second, Preempt: true,
			PreemptDelay: 5 * time.Second, Src: addrA})
		m.Start(t0)
		var took time.Duration
		for i := range 20 {
			now := at(time.Duration(i) * time.Second)
			if a := m.Tick(now); a.Has(Claim) {
				took = time.Duration(i) * time.Second
				break
			}
			m.Receive(now, master)
		}
		// Last accepted advert at 4s; the ones from 5s are discarded; the
		// timer armed at 4s (3.414s) runs out before 8s.
		if took != 8*time.Second {
			t.Fatalf("took over at %v, want 8s", took)
		}
	})
}

func TestFaultAndShutdown(t *testing.T) {
	m := NewMachine(MachineConfig{Version: 3, Priority: 255, Interval: 100 * ms, Src: addrA})
	run(t, m, []step{
		{at: 0, event: "start", want: SendAdvert | Claim | Changed, state: Master},
		{at: 10 * ms, event: "fault", want: SendStop | Release | Changed, state: Fault},
		{at: 20 * ms, event: "tick", state: Fault},
		{at: 30 * ms, event: "recv", prio: 1, state: Fault},
		{at: 40 * ms, event: "fault", state: Fault},
		{at: 50 * ms, event: "unfault", want: SendAdvert | Claim | Changed, state: Master, comment: "owner"},
		{at: 60 * ms, event: "shutdown", want: SendStop | Release | Changed, state: Stopped},
		{at: 70 * ms, event: "shutdown", state: Stopped},
		{at: 80 * ms, event: "force-master", state: Stopped},
	})
	b := NewMachine(MachineConfig{Version: 3, Priority: 100, Interval: 100 * ms, Src: addrA})
	run(t, b, []step{
		{at: 0, event: "start", want: Changed, state: Backup},
		{at: 10 * ms, event: "fault", want: Changed, state: Fault},
		{at: 20 * ms, event: "unfault", want: Changed, state: Backup},
		{at: 30 * ms, event: "shutdown", want: Changed, state: Stopped},
	})
}

func TestForceFollowsSyncGroup(t *testing.T) {
	m := NewMachine(MachineConfig{Version: 3, Priority: 100, Interval: 100 * ms, Preempt: true, Src: addrA})
	run(t, m, []step{
		{at: 0, event: "force-master", state: Init, comment: "not started"},
		{at: 0, event: "start", want: Changed, state: Backup},
		{at: 10 * ms, event: "force-master", want: SendAdvert | Claim | Changed, state: Master},
		{at: 20 * ms, event: "force-master", state: Master},
		{at: 30 * ms, event: "force-backup", want: Release | Changed, state: Backup},
	})
}

func TestPriorityChangesSkewAndTakeover(t *testing.T) {
	m := NewMachine(MachineConfig{Version: 3, Priority: 100, Interval: time.Second, Preempt: true, Src: addrA})
	m.Start(t0)
	m.SetPriority(300 - 255) // 45
	if m.Priority() != 45 || m.Skew() != 211*time.Second/256 {
		t.Fatalf("priority %d skew %v", m.Priority(), m.Skew())
	}
	m.SetPriority(0)
	if m.Priority() != 1 {
		t.Fatalf("priority clamped to %d, want 1", m.Priority())
	}
	m.SetPriority(255)
	if m.Priority() != 254 {
		t.Fatalf("priority clamped to %d, want 254 (only configuration makes an owner)", m.Priority())
	}
}

// TestExactlyOneMaster runs two machines against each other over a
// lossless in-memory wire with every interleaving of start times and
// checks that, once settled, exactly one is master, and that it is the
// higher priority (or the higher address on a tie).
func TestExactlyOneMaster(t *testing.T) {
	type peer struct {
		m   *Machine
		src [4]byte
	}
	for _, c := range []struct {
		pa, pb  uint8
		delayB  time.Duration
		version uint8
		winner  int
	}{
		{100, 150, 0, 3, 1},
		{150, 100, 0, 3, 0},
		{100, 100, 0, 3, 1},               // simultaneous masters: the higher address wins
		{100, 100, 2 * time.Second, 2, 0}, // the first master stays: a backup accepts an equal priority
		{255, 100, 0, 2, 0},
		{100, 255, 5 * time.Second, 3, 1},
	} {
		interval := 100 * ms
		if c.version == 2 {
			interval = time.Second
		}
		ps := []*peer{
			{NewMachine(MachineConfig{Version: c.version, Priority: c.pa, Interval: interval, Preempt: true, Src: addrA}), addrA},
			{NewMachine(MachineConfig{Version: c.version, Priority: c.pb, Interval: interval, Preempt: true, Src: addrB}), addrB},
		}
		started := [2]bool{}
		step := 10 * ms
		for now := time.Duration(0); now < 30*time.Second; now += step {
			var sent [2]bool
			for i, p := range ps {
				if !started[i] && (i == 0 || now >= c.delayB) {
					started[i] = true
					ps[i].m.Start(at(now))
					continue
				}
				if !started[i] {
					continue
				}
				sent[i] = p.m.Tick(at(now)).Has(SendAdvert)
			}
			// Deliver after both ticked, so simultaneous masters meet.
			for i, p := range ps {
				if sent[i] && started[1-i] {
					ps[1-i].m.Receive(at(now), Received{Src: p.src, Priority: p.m.Priority(), Interval: interval})
				}
			}
		}
		masters := 0
		for _, p := range ps {
			if p.m.State() == Master {
				masters++
			}
		}
		if masters != 1 || ps[c.winner].m.State() != Master {
			t.Errorf("%+v: states %v %v", c, ps[0].m.State(), ps[1].m.State())
		}
	}
}
