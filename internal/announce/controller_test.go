package announce_test

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ulvs/ulvs/internal/announce"
	"github.com/ulvs/ulvs/internal/announce/announcetest"
)

var (
	vipA = netip.MustParseAddr("192.0.2.1")
	vipB = netip.MustParseAddr("192.0.2.2")
	pA   = netip.MustParsePrefix("192.0.2.1/32")
	pB   = netip.MustParsePrefix("192.0.2.2/32")
)

// TestControllerSendsChanges walks a sequence of states and checks the
// exact calls each one makes: only differences go to the speaker.
func TestControllerSendsChanges(t *testing.T) {
	sp := announcetest.New()
	c := announce.NewController(sp, slog.New(slog.DiscardHandler))
	both := func(a, b bool) announce.Input {
		return announce.Input{Services: []announce.Service{{VIP: vipA, Up: a}, {VIP: vipB, Up: b}}}
	}
	for i, step := range []struct {
		do   func() error
		want string
	}{
		{func() error { return c.Update(both(true, false)) }, "announce 192.0.2.1/32"},
		{func() error { return c.Update(both(true, false)) }, ""},
		{func() error { return c.Update(both(true, true)) }, "announce 192.0.2.2/32"},
		{func() error { return c.Update(both(false, true)) }, "withdraw 192.0.2.1/32"},
		{c.Drain, "withdraw 192.0.2.2/32"},
		{func() error { return c.Update(both(true, true)) }, ""}, // drained: stays withdrawn
		{c.Undrain, "announce 192.0.2.1/32,announce 192.0.2.2/32"},
		{func() error { return c.Update(announce.Input{Services: []announce.Service{{VIP: vipB, Up: true}}}) },
			"withdraw 192.0.2.1/32"}, // the VIP left the config
		{func() error {
			return c.Update(announce.Input{Services: []announce.Service{{VIP: vipB, Up: true}}, VRRP: map[netip.Addr]bool{vipB: false}})
		}, "withdraw 192.0.2.2/32"},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		calls := sp.Calls()
		slices.Sort(calls)
		if got := strings.Join(calls, ","); got != step.want {
			t.Errorf("step %d: calls %q, want %q", i, got, step.want)
		}
	}
	st := c.Status()
	if len(st.Prefixes) != 1 || st.Prefixes[0].Prefix != pB || st.Prefixes[0].Announced || st.Prefixes[0].Reason != "vrrp_backup" {
		t.Errorf("status prefixes = %+v", st.Prefixes)
	}
}

// TestControllerRetries: a failed announcement is not remembered as sent,
// so the next update tries it again.
func TestControllerRetries(t *testing.T) {
	sp := announcetest.New()
	c := announce.NewController(sp, slog.New(slog.DiscardHandler))
	in := announce.Input{Services: []announce.Service{{VIP: vipA, Up: true}}}
	sp.Fail[pA] = true
	if err := c.Update(in); err == nil {
		t.Fatal("Update hid the speaker's error")
	}
	if st := c.Status(); st.Prefixes[0].Announced {
		t.Error("a failed announcement shows as announced")
	}
	delete(sp.Fail, pA)
	if err := c.Update(in); err != nil {
		t.Fatal(err)
	}
	if got := sp.Announced(); !slices.Equal(got, []netip.Prefix{pA}) {
		t.Errorf("announced %v after the retry, want [%v]", got, pA)
	}
	if !c.Status().Prefixes[0].Announced {
		t.Error("status does not show the retried announcement")
	}
}
