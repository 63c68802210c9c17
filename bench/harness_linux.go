package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
)

// servicePort is the UDP port of the virtual service (and of the DNAT rule).
const servicePort = 5300

// sinkTable is the netdev table on every real server: it counts the IPv4
// frames addressed to the server's MAC and drops all IPv4 at ingress, so
// the real servers' stacks cost nothing while ARP keeps working.
const sinkTable = "ulvsbench_sink"

// startupTimeout bounds how long a subject may take to deliver its first
// frames.
const startupTimeout = 15 * time.Second

// harness is what the subjects of one Run share: the topology, the sinks'
// nft counters and a scratch directory for configuration files.
type harness struct {
	ctx    context.Context
	c      Config
	log    *slog.Logger
	lvs    *netns.LVS
	dir    string
	pinned bool
	// tcp adds a TCP service next to the UDP one.
	tcp bool
}

// nft loads an nftables script inside ns.
func (h *harness) nft(ns *netns.NS, script string) error {
	f, err := os.CreateTemp(h.dir, "nft-*.conf")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		f.Close()
		return err
	}
	f.Close()
	_, err = ns.Exec(h.ctx, "nft", "-f", f.Name())
	return err
}

// setupSinks installs the counting drop on every real server and teaches
// the bridge every real server's MAC, so frames to them are never flooded.
func (h *harness) setupSinks() error {
	// FDB entries must outlive the run (ageing_time is in centiseconds).
	if err := h.lvs.LAN.IP("link", "set", "br0", "type", "bridge", "ageing_time", "100000000"); err != nil {
		return err
	}
	gw := h.lvs.Gateway.Dev.Addr.Addr()
	for _, r := range h.lvs.Reals {
		script := fmt.Sprintf("table netdev %s {\n\tcounter delivered { }\n\tchain sink {\n\t\ttype filter hook ingress device %q priority -500; policy accept;\n\t\tether daddr %s meta protocol ip counter name \"delivered\" drop\n\t\tmeta protocol ip drop\n\t}\n}\n",
			sinkTable, r.Dev.Name, r.Dev.MAC)
		if err := h.nft(r.NS, script); err != nil {
			return err
		}
		// One datagram to the gateway makes the real server ARP, which the
		// bridge learns its MAC from.
		err := r.NS.Do(func() error {
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, 9)))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("hello"))
			return err
		})
		if err != nil {
			return fmt.Errorf("bench: priming the bridge from %s: %w", r.NS.Name, err)
		}
	}
	return nil
}

// delivered sums the sinks' counters.
func (h *harness) delivered() (uint64, error) {
	var sum uint64
	for _, r := range h.lvs.Reals {
		out, err := r.NS.Exec(h.ctx, "nft", "-j", "list", "counter", "netdev", sinkTable, "delivered")
		if err != nil {
			return 0, err
		}
		var doc struct {
			Nftables []struct {
				Counter *struct {
					Packets uint64 `json:"packets"`
				} `json:"counter"`
			} `json:"nftables"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			return 0, fmt.Errorf("bench: sink counter of %s: %w", r.NS.Name, err)
		}
		found := false
		for _, o := range doc.Nftables {
			if o.Counter != nil {
				sum += o.Counter.Packets
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("bench: no sink counter in %s", r.NS.Name)
		}
	}
	return sum, nil
}
