package status

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// exampleSnapshot is the table of ecosystem.md's ipvsadm examples.
func exampleSnapshot() *Snapshot {
	a := netip.MustParseAddr
	return &Snapshot{Version: "1.2.1", ConnTableSize: 4096, Services: []Service{
		{Proto: "FWM", FWMark: 1, Scheduler: "rr", Reals: []Real{
			{Addr: a("192.168.201.100"), Forward: "Tunnel", Weight: 1, ActiveConns: 5},
		}},
		{Proto: "TCP", Addr: a("10.10.10.2"), Port: 80, Scheduler: "wlc", Persistent: 50, MaskBits: 32,
			Stats: Stats{Conns: 1234, InPkts: 56789, OutPkts: 54321, InBytes: 3456789, OutBytes: 1234_567_890},
			Rate:  Rate{CPS: 12, InPPS: 3400, OutPPS: 3000, InBPS: 123_456_789, OutBPS: 5_000_000},
			Reals: []Real{
				{Addr: a("192.168.200.3"), Port: 80, Forward: "Route", Weight: 3, InactConns: 2,
					UThreshold: 100, LThreshold: 50, PersistConns: 1},
				{Addr: a("192.168.200.2"), Port: 80, Forward: "Masq", Weight: 1, ActiveConns: 12, InactConns: 340,
					Stats: Stats{Conns: 617, InPkts: 28400, OutPkts: 27000, InBytes: 1700000, OutBytes: 600_000_000},
					Rate:  Rate{CPS: 6, InPPS: 1700, OutPPS: 1500, InBPS: 61_000_000, OutBPS: 2_500_000}},
			}},
		{Proto: "UDP", Addr: a("10.10.10.3"), Port: 53, Scheduler: "sh", Persistent: 300, MaskBits: 24, OnePacket: true,
			SchedFlags: []string{"sh-fallback", "sh-port"}},
		{Proto: "TCP", Addr: a("2001:db8::1"), Port: 443, Scheduler: "mh", Persistent: 60, MaskBits: 64, Reals: []Real{
			{Addr: a("2001:db8::10"), Port: 443, Forward: "Masq", Weight: 65535},
		}},
	}}
}

// TestListExample checks the rendering against ecosystem.md's examples,
// which were produced with ipvsadm's own format strings.
func TestListExample(t *testing.T) {
	snap := exampleSnapshot()
	snap.Services = snap.Services[:2]
	Sort(snap.Services)
	snap.Services[0].Stats = Stats{}
	var b bytes.Buffer
	WriteList(&b, snap, ListOptions{})
	want := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  10.10.10.2:80 wlc persistent 50\n" +
		"  -> 192.168.200.2:80             Masq    1      12         340       \n" +
		"  -> 192.168.200.3:80             Route   3      0          2         \n" +
		"FWM  1 rr\n" +
		"  -> 192.168.201.100:0            Tunnel  1      5          0         \n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}

	b.Reset()
	snap.Services[0].Stats = Stats{Conns: 1234, InPkts: 56789, OutPkts: 54321, InBytes: 3456789, OutBytes: 1234_567_890}
	WriteList(&b, &Snapshot{Version: "1.2.1", ConnTableSize: 4096, Services: []Service{
		{Proto: "TCP", Addr: snap.Services[0].Addr, Port: 80, Stats: snap.Services[0].Stats,
			Reals: snap.Services[0].Reals[:1]}}}, ListOptions{Format: FormatStats})
	want = "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n" +
		"  -> RemoteAddress:Port\n" +
		"TCP  10.10.10.2:80                    1234    56789    54321  3456789    1234M\n" +
		"  -> 192.168.200.2:80                  617    28400    27000  1700000  600000K\n"
	if b.String() != want {
		t.Errorf("stats: got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestListGolden renders every layout; the golden files were checked
// column by column against ipvsadm's format strings.
func TestListGolden(t *testing.T) {
	cases := []struct {
		name string
		opts ListOptions
	}{
		{"default", ListOptions{}},
		{"stats", ListOptions{Format: FormatStats}},
		{"stats-exact", ListOptions{Format: FormatStats, Exact: true}},
		{"rate", ListOptions{Format: FormatRate}},
		{"thresholds", ListOptions{Format: FormatThresholds}},
		{"persistent-conn", ListOptions{Format: FormatPersistentConn}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := exampleSnapshot()
			Sort(snap.Services)
			var b bytes.Buffer
			if err := WriteList(&b, snap, c.opts); err != nil {
				t.Fatal(err)
			}
			golden(t, "list-"+c.name+".txt", b.Bytes())
		})
	}
}

func TestConnsAndTimeouts(t *testing.T) {
	ap := netip.MustParseAddrPort
	var b bytes.Buffer
	WriteConns(&b, []Conn{
		{Proto: "TCP", State: "ESTABLISHED", Expires: 898 * time.Second, Client: ap("203.0.113.7:51234"),
			Virtual: ap("10.10.10.2:80"), Real: ap("192.168.200.2:80")},
		{Proto: "TCP", State: "SYN_RECV", Expires: 57*time.Second + 900*time.Millisecond, Client: ap("198.51.100.9:40000"),
			Virtual: ap("10.10.10.2:80"), Real: ap("192.168.200.3:80")},
		{Proto: "UDP", State: "UDP", Expires: 299 * time.Second, Client: ap("203.0.113.7:5353"),
			Virtual: ap("10.10.10.3:53"), Real: ap("192.168.200.4:53")},
		{Proto: "TCP", Template: true, State: "NONE", Expires: 350 * time.Second, Client: ap("203.0.113.7:0"),
			Virtual: ap("10.10.10.2:80"), Real: ap("192.168.200.2:80")},
	})
	WriteTimeouts(&b, Timeouts{TCP: 900, TCPFin: 120, UDP: 300})
	want := "IPVS connection entries\n" +
		"pro expire state       source             virtual            destination\n" +
		"TCP 14:58  ESTABLISHED 203.0.113.7:51234  10.10.10.2:80      192.168.200.2:80\n" +
		"TCP 00:57  SYN_RECV    198.51.100.9:40000 10.10.10.2:80      192.168.200.3:80\n" +
		"UDP 04:59  UDP         203.0.113.7:5353   10.10.10.3:53      192.168.200.4:53\n" +
		"TCP 05:50  NONE        203.0.113.7:0      10.10.10.2:80      192.168.200.2:80\n" +
		"Timeout (tcp tcpfin udp): 900 120 300\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestLargeNums(t *testing.T) {
	cases := []struct {
		n     uint64
		exact bool
		want  string
	}{
		{0, false, "        0"},
		{99_999_999, false, " 99999999"},
		{100_000_000, false, "  100000K"},
		{999_999_999, false, "  999999K"},
		{1_000_000_000, false, "    1000M"},
		{99_999_999_999, false, "   99999M"},
		{100_000_000_000, false, "     100G"},
		{100_000_000_000_000, false, "     100T"},
		{5, true, "        5"},
		{123_456_789_012, true, " 123456789012"},
	}
	for _, c := range cases {
		var b bytes.Buffer
		w := newBuf(&b)
		largeNums(w, c.exact, c.n)
		w.Flush()
		if b.String() != c.want {
			t.Errorf("largeNums(%d, exact=%v) = %q, want %q", c.n, c.exact, b.String(), c.want)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot\n%s\nwant\n%s", name, got, want)
	}
}

func TestWriteVRRP(t *testing.T) {
	var b strings.Builder
	since := time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC)
	err := WriteVRRP(&b, []VRRPInstance{
		{Name: "VI_1", Interface: "eth0", VRID: 51, Version: 3, State: "MASTER", Since: since, Priority: 140,
			BasePriority: 150, Master: netip.MustParseAddr("10.0.1.2"),
			VIPs: []netip.Addr{netip.MustParseAddr("10.0.1.100"), netip.MustParseAddr("10.0.1.101")}},
		{Name: "VI_2", Interface: "eth1", VRID: 52, Version: 2, State: "BACKUP", Since: since, Priority: 100, BasePriority: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "VRRP Instance  Interface  VRID  Ver  State   Prio       Master    Since                 VIPs\n" +
		"VI_1           eth0       51    v3   MASTER  140 (150)  10.0.1.2  2026-11-26T17:00:00Z  10.0.1.100,10.0.1.101\n" +
		"VI_2           eth1       52    v2   BACKUP  100        -         2026-11-26T17:00:00Z  \n"
	if b.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", b.String(), want)
	}
	b.Reset()
	if WriteVRRP(&b, nil); b.Len() != 0 {
		t.Errorf("no instances printed %q", b.String())
	}
}
