package vrrp

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// eventOwner records the order of what a router asks of an InstanceOwner.
type eventOwner struct {
	mu     sync.Mutex
	events []string
}

func (o *eventOwner) add(e string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.events) == 0 || o.events[len(o.events)-1] != e { // one entry per GARP burst
		o.events = append(o.events, e)
	}
}

func (o *eventOwner) Claim(v netip.Addr)   { o.add("claim " + v.String()) }
func (o *eventOwner) Release(v netip.Addr) { o.add("release " + v.String()) }
func (o *eventOwner) Up(name string)       { o.add("up " + name) }
func (o *eventOwner) Down(name string)     { o.add("down " + name) }
func (o *eventOwner) Gratuitous(iface string, v netip.Addr) error {
	o.add("garp " + iface + " " + v.String())
	return nil
}

func (o *eventOwner) log() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.events)
}

// TestInstanceOwnerOrder: the kernel side of an instance comes up after
// its addresses are claimed and before they are announced, and goes down
// before they are released, on a takeover and on shutdown.
func TestInstanceOwnerOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &wire{}
		own := &eventOwner{}
		a := startNode(t, w, "10.0.0.1", func(c *Config) {
			c.Instances[0].Priority = 150
			c.Instances[0].GARPDelay = 0
			c.Owner = own
		})
		time.Sleep(time.Second)
		synctest.Wait()
		if a.state() != Master {
			t.Fatalf("state %v, want MASTER", a.state())
		}
		a.stop()
		want := []string{"claim 10.0.0.100", "up VI_1", "garp eth0 10.0.0.100", "down VI_1", "release 10.0.0.100"}
		if got := own.log(); !slices.Equal(got, want) {
			t.Errorf("events\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
		}
	})
}
