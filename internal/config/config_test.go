package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ulvs/ulvs/balancer"
)

// parse parses in as /etc/keepalived/keepalived.conf over fsys.
func parse(t *testing.T, in string, opts Options) (*Config, []Warning, error) {
	t.Helper()
	if opts.FS == nil {
		opts.FS = fstest.MapFS{}
	}
	if opts.ConfigID == "" {
		opts.ConfigID = "lb1"
	}
	return Parse("/etc/keepalived/keepalived.conf", []byte(in), opts)
}

func mustParse(t *testing.T, in string) (*Config, []Warning) {
	t.Helper()
	cfg, warns, err := parse(t, in, Options{})
	if err != nil {
		t.Fatalf("unexpected error:\n%v", err)
	}
	return cfg, warns
}

func warnStrings(ws []Warning) string {
	var s []string
	for _, w := range ws {
		s = append(s, w.String())
	}
	return strings.Join(s, "\n")
}

// vsBlock wraps body in a complete virtual_server with no default warnings.
func vsBlock(body string) string {
	return "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n" + body + "\n real_server 10.0.2.1 80 { weight 1 }\n}\n"
}

func TestDefaults(t *testing.T) {
	cfg, warns := mustParse(t, "virtual_server 10.0.0.1 80 {\n real_server 10.0.2.1 8080 {\n }\n}\n")
	vs := cfg.VirtualServers[0]
	if vs.Scheduler != "wlc" || vs.Method != balancer.NAT || vs.Protocol != balancer.UDP ||
		vs.DelayLoop != 60*time.Second || vs.Persistence != 0 || vs.Flags != 0 {
		t.Errorf("defaults: got sched %q method %v proto %v delay %v persistence %v flags %v",
			vs.Scheduler, vs.Method, vs.Protocol, vs.DelayLoop, vs.Persistence, vs.Flags)
	}
	rs := vs.Reals[0]
	if rs.Weight != 1 || rs.Method != balancer.NAT || rs.Port != 8080 || rs.InhibitOnFailure {
		t.Errorf("real server defaults: %+v", rs)
	}
	if cfg.ULVS.AdminSocket != DefaultAdminSocket || cfg.ULVS.IO != IORing || cfg.ULVS.Workers != 0 {
		t.Errorf("ulvs defaults: %+v", cfg.ULVS)
	}
	// keepalived reports each default it fills in.
	ws := warnStrings(warns)
	for _, want := range []string{"no lb_algo set; using wlc", "defaulting to UDP", "no lb_kind set; using NAT"} {
		if !strings.Contains(ws, "/etc/keepalived/keepalived.conf:1: virtual_server: ") || !strings.Contains(ws, want) {
			t.Errorf("warnings lack %q:\n%s", want, ws)
		}
	}
}

func TestAliases(t *testing.T) {
	a, _ := mustParse(t, "virtual_server 10.0.0.1 80 {\n lb_algo sh\n lb_kind DR\n protocol tcp\n real_server 10.0.2.1 80 { lvs_method TUN }\n}\n")
	b, _ := mustParse(t, "virtual_server 10.0.0.1 80 {\n lvs_sched sh\n lvs_method DR\n protocol TCP\n real_server 10.0.2.1 80 { lvs_method TUN }\n}\n")
	sa, err := a.Services()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Services()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sa, sb) {
		t.Errorf("aliases differ:\n%+v\n%+v", sa, sb)
	}
	if sa[0].Scheduler != "sh" || sa[0].Key.Proto != balancer.TCP || sa[0].Reals[0].Method != balancer.TUN {
		t.Errorf("got %+v", sa[0])
	}
}

func TestVirtualServerKeywords(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, vs *VirtualServer)
	}{
		{"bare persistence is 360s", "persistence_timeout", func(t *testing.T, vs *VirtualServer) {
			if vs.Persistence != 360*time.Second {
				t.Errorf("persistence %v", vs.Persistence)
			}
		}},
		{"persistence value", "persistence_timeout 50", func(t *testing.T, vs *VirtualServer) {
			if vs.Persistence != 50*time.Second {
				t.Errorf("persistence %v", vs.Persistence)
			}
		}},
		{"granularity implies persistence", "persistence_granularity 255.255.255.0", func(t *testing.T, vs *VirtualServer) {
			if vs.Persistence != 360*time.Second || vs.PersistenceMaskBits != 24 {
				t.Errorf("persistence %v bits %d", vs.Persistence, vs.PersistenceMaskBits)
			}
		}},
		{"fractional delay_loop", "delay_loop 2.5", func(t *testing.T, vs *VirtualServer) {
			if vs.DelayLoop != 2500*time.Millisecond {
				t.Errorf("delay_loop %v", vs.DelayLoop)
			}
		}},
		{"flag-1 and flag-2", "flag-1\nflag-2", func(t *testing.T, vs *VirtualServer) {
			if vs.Flags != balancer.FlagSchedFallback|balancer.FlagSchedPort {
				t.Errorf("flags %v", vs.Flags)
			}
		}},
		{"vs weight is the rs default", "weight 7\nreal_server 10.0.2.2 80", func(t *testing.T, vs *VirtualServer) {
			if vs.Reals[0].Weight != 7 {
				t.Errorf("weight %d", vs.Reals[0].Weight)
			}
		}},
		{"vs inhibit is the rs default", "inhibit_on_failure", func(t *testing.T, vs *VirtualServer) {
			if !vs.Reals[0].InhibitOnFailure {
				t.Error("inhibit_on_failure not inherited")
			}
		}},
		{"checker defaults inherited", "virtualhost www.example.com\nretry 3\nhashed\nconnect_timeout 2.5\nwarmup 0\n" +
			"delay_before_retry 4\nha_suspend\nip_family inet\nalpha\nreal_server 10.0.2.2 80 {\n retry 5\n alpha off\n notify_up \"/bin/up.sh a\"\n}",
			func(t *testing.T, vs *VirtualServer) {
				want := CheckDefaults{ConnectTimeout: 2500 * time.Millisecond, Retry: 3, DelayBeforeRetry: 4 * time.Second, WarmupSet: true}
				if vs.Checks != want || vs.Virtualhost != "www.example.com" || !vs.HASuspend || vs.Family != 4 || len(vs.Extra) != 0 {
					t.Errorf("vs %+v", vs)
				}
				rs := vs.Reals[0]
				want.Retry = 5
				if rs.Checks != want || rs.Virtualhost != "www.example.com" || rs.Alpha || rs.NotifyUp != "/bin/up.sh a" ||
					rs.DelayLoop != 60*time.Second {
					t.Errorf("rs %+v", rs)
				}
				if r1 := vs.Reals[1]; !r1.Alpha || r1.Checks.Retry != 3 {
					t.Errorf("second rs %+v", r1)
				}
			}},
		{"quorum and sorry server", "sorry_server 10.0.2.9 8080\nsorry_server_lvs_method DR\nsorry_server_inhibit\nquorum 2\nhysteresis 1\n" +
			"quorum_up \"/bin/up arg\"\nquorum_down /bin/down\nalpha\nomega off", func(t *testing.T, vs *VirtualServer) {
			want := SorryServer{Addr: netip.MustParseAddr("10.0.2.9"), Port: 8080, Method: balancer.DR}
			if vs.Sorry == nil || vs.Sorry.Addr != want.Addr || vs.Sorry.Port != want.Port || vs.Sorry.Method != want.Method {
				t.Errorf("sorry %+v", vs.Sorry)
			}
			if !vs.SorryInhibit || vs.Quorum != 2 || vs.Hysteresis != 1 || vs.QuorumUp != "/bin/up arg" ||
				vs.QuorumDown != "/bin/down" || !vs.Alpha || vs.Omega || len(vs.Extra) != 0 {
				t.Errorf("%+v", vs)
			}
		}},
		{"quorum defaults", "sorry_server 10.0.2.9", func(t *testing.T, vs *VirtualServer) {
			if vs.Quorum != 1 || vs.Hysteresis != 0 || vs.Sorry.Port != 80 || vs.Sorry.Method != vs.Method {
				t.Errorf("quorum %d hysteresis %d sorry %+v", vs.Quorum, vs.Hysteresis, vs.Sorry)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, warns := mustParse(t, vsBlock(tt.body))
			for _, w := range warns {
				if w.Keyword != "ha_suspend" || !strings.Contains(w.Msg, "accepted but ignored") {
					t.Errorf("warning: %v", w)
				}
			}
			tt.check(t, cfg.VirtualServers[0])
		})
	}
}

func TestSchedulerFlags(t *testing.T) {
	tests := []struct {
		sched, flags string
		want         balancer.ServiceFlags
		warn         string
	}{
		{"sh", "sh-port\nsh-fallback", balancer.FlagSchedPort | balancer.FlagSchedFallback, ""},
		{"mh", "mh-port", balancer.FlagSchedPort, ""},
		{"mh", "mh-fallback", balancer.FlagSchedFallback, ""},
		{"rr", "sh-port", 0, "only applies to the sh scheduler (this service uses rr)"},
		{"sh", "mh-fallback", 0, "only applies to the mh scheduler"},
		{"rr", "flag-3", 0, "IP_VS_SVC_F_SCHED3"},
	}
	for _, tt := range tests {
		// the flag comes before lb_algo: order must not matter.
		in := "virtual_server 10.0.0.1 80 {\n" + tt.flags + "\n lb_algo " + tt.sched + "\n lb_kind NAT\n protocol TCP\n real_server 10.0.2.1 80\n}\n"
		cfg, warns := mustParse(t, in)
		if got := cfg.VirtualServers[0].Flags; got != tt.want {
			t.Errorf("%s %q: flags %v, want %v", tt.sched, tt.flags, got, tt.want)
		}
		if ws := warnStrings(warns); (tt.warn == "") != (ws == "") || !strings.Contains(ws, tt.warn) {
			t.Errorf("%s %q: warnings %q, want %q", tt.sched, tt.flags, ws, tt.warn)
		}
	}
}

func TestKeepalivedCorrections(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		warn  string
		check func(t *testing.T, c *Config)
	}{
		{"ops needs UDP", vsBlock("ops"), "ops (one-packet scheduling) requires UDP", func(t *testing.T, c *Config) {
			if c.VirtualServers[0].Flags&balancer.FlagOnePacket != 0 {
				t.Error("ops kept on TCP")
			}
		}},
		{"ops on UDP", "virtual_server 10.0.0.1 53 {\n lb_algo rr\n lb_kind NAT\n protocol UDP\n ops\n real_server 10.0.2.1 53\n}\n", "",
			func(t *testing.T, c *Config) {
				if c.VirtualServers[0].Flags != balancer.FlagOnePacket {
					t.Error("ops lost")
				}
			}},
		{"zero port becomes persistent", "virtual_server 10.0.0.1 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server 10.0.2.1\n}\n",
			"zero port is valid only for persistent services", func(t *testing.T, c *Config) {
				if c.VirtualServers[0].Persistence != 360*time.Second {
					t.Error("not made persistent")
				}
			}},
		{"DR port reset", "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server 10.0.2.1 8080\n}\n",
			"DR forwarding cannot change the port", func(t *testing.T, c *Config) {
				if c.VirtualServers[0].Reals[0].Port != 80 {
					t.Error("port not reset")
				}
			}},
		{"duplicate real server removed", vsBlock("real_server 10.0.2.1 80 { weight 3 }"), "duplicates the one at /etc/keepalived/keepalived.conf:5",
			func(t *testing.T, c *Config) {
				if rs := c.VirtualServers[0].Reals; len(rs) != 1 || rs[0].Weight != 3 {
					t.Errorf("reals %+v", rs)
				}
			}},
		{"no real servers drops the service", "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n}\n",
			"has no real servers; ignored", func(t *testing.T, c *Config) {
				if len(c.VirtualServers) != 0 {
					t.Error("service kept")
				}
			}},
		{"family mismatch skips real server", vsBlock("real_server 2001:db8::1 80"), "address family", func(t *testing.T, c *Config) {
			if len(c.VirtualServers[0].Reals) != 1 {
				t.Error("IPv6 real server kept for IPv4 NAT service")
			}
		}},
		{"fwmark ignores protocol", "virtual_server fwmark 5 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server 10.0.2.1 80\n}\n",
			"protocol is ignored for a fwmark service", func(t *testing.T, c *Config) {
				vs := c.VirtualServers[0]
				if vs.FWMark != 5 || vs.Protocol != 0 || vs.Reals[0].Port != 0 {
					t.Errorf("%+v %+v", vs, vs.Reals[0])
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, warns := mustParse(t, tt.in)
			ws := warnStrings(warns)
			if (tt.warn == "") != (ws == "") || !strings.Contains(ws, tt.warn) {
				t.Errorf("warnings %q, want %q", ws, tt.warn)
			}
			tt.check(t, cfg)
		})
	}
}

func TestUnknownKeywordSkipsBlock(t *testing.T) {
	in := `virtual_server 10.0.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    fancy_feature {
        real_server 10.9.9.9 80
        weight 100
    }
    real_server 10.0.2.1 80 {
        wieght 5
    }
}
mystery_block {
}
`
	cfg, warns := mustParse(t, in)
	want := []string{
		"/etc/keepalived/keepalived.conf:5: fancy_feature: unknown keyword in virtual_server; ignored with its { } block",
		"/etc/keepalived/keepalived.conf:10: wieght: unknown keyword in real_server; ignored (did you mean weight?)",
		"/etc/keepalived/keepalived.conf:13: mystery_block: unknown keyword in the top level; ignored with its { } block",
	}
	if got := warnStrings(warns); got != strings.Join(want, "\n") {
		t.Errorf("warnings\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	vs := cfg.VirtualServers[0]
	if len(vs.Reals) != 1 || vs.Reals[0].Addr != netip.MustParseAddr("10.0.2.1") || vs.Reals[0].Weight != 1 {
		t.Errorf("the unknown block leaked into the service: %+v", vs.Reals)
	}

	_, _, err := parse(t, in, Options{Strict: true})
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 3 || !strings.Contains(list[1].Error(), "keepalived.conf:10: wieght") {
		t.Errorf("strict: got %v", err)
	}
}

func TestGenericBlocksKept(t *testing.T) {
	cfg, warns, err := Load("testdata/dr.conf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].String(), "enable_script_security: accepted but ignored") {
		t.Errorf("warnings: %s", warnStrings(warns))
	}
	if len(cfg.Blocks) != 2 || cfg.Blocks[0].Keyword != "vrrp_script" || cfg.Blocks[1].Keyword != "vrrp_instance" {
		t.Fatalf("blocks %v", cfg.Blocks)
	}
	vi := cfg.Blocks[1]
	if vi.Args[0] != "VI_1" || vi.Find("virtual_ipaddress").Children[0].Keyword != "192.0.2.20/24" ||
		vi.Find("notify_master").Args[0] != "/etc/keepalived/notify.sh MASTER" {
		t.Errorf("vrrp_instance kept wrongly:\n%s", vi)
	}
	rs := cfg.VirtualServers[0].Reals[1]
	if len(rs.Checkers) != 1 || rs.Checkers[0].Keyword != "TCP_CHECK" || rs.Port != 443 {
		t.Errorf("checker or port: %+v", rs)
	}
}

func TestErrors(t *testing.T) {
	const f = "/etc/keepalived/keepalived.conf:"
	tests := []struct {
		name, in, want string
	}{
		{"bad scheduler", vsBlock("lb_algo fastest"), f + `5: lb_algo: unknown scheduler "fastest" (write one of rr wrr`},
		{"lowercase method", vsBlock("lb_kind dr"), f + `5: lb_kind: unknown forwarding method "dr" (write lb_kind DR: keepalived compares the method case-sensitively)`},
		{"bad protocol", vsBlock("protocol ICMP"), f + `5: protocol: unknown protocol "ICMP" (write protocol TCP`},
		{"weight range", "virtual_server 10.0.0.1 80 {\n real_server 10.0.2.1 80 { weight 70000 }\n}\n", f + "2: weight: 70000 is outside 0..65535"},
		{"weight not a number", "virtual_server 10.0.0.1 80 {\n real_server 10.0.2.1 80 { weight heavy }\n}\n", f + `2: weight: "heavy" is not a whole number`},
		{"missing value", vsBlock("delay_loop"), f + "5: delay_loop: missing value (write delay_loop 6"},
		{"bad timer", vsBlock("delay_loop 1.2345678"), "more than 6 decimals"},
		{"zero persistence", vsBlock("persistence_timeout 0"), f + "5: persistence_timeout: 0 is outside 1..2678400"},
		{"holey netmask", vsBlock("persistence_granularity 255.0.255.0"), "not a solid run"},
		{"bad vs address", "virtual_server www.example.com 80 {\n}\n", f + `1: virtual_server: "www.example.com" is not an IP address`},
		{"bad rs port", "virtual_server 10.0.0.1 80 {\n real_server 10.0.2.1 http\n}\n", f + `2: real_server: port "http" is not a whole number`},
		{"vs without block", "virtual_server 10.0.0.1 80\n", f + "1: virtual_server: needs a { } block"},
		{"block on scalar", vsBlock("weight 1 {\n}"), f + "5: weight: takes no { } block"},
		{"duplicate service", vsBlock("") + vsBlock(""), f + "8: virtual_server: TCP 10.0.0.1:80 is already defined at " + f + "1"},
		{"lvs_timeouts unknown", "global_defs {\n lvs_timeouts tcp 10 sctp 5\n}\n", f + `2: lvs_timeouts: unknown timeout "sctp"`},
		{"lvs_timeouts no value", "global_defs {\n lvs_timeouts tcp\n}\n", "needs at least 2 values"},
		{"gue without port", vsBlock("lb_kind TUN type gue"), "gue tunnels require a port"},
		{"ipip with csum", vsBlock("lb_kind TUN csum"), "ipip tunnels have no checksum option"},
		{"gre remcsum", vsBlock("lb_kind TUN type gre remcsum"), "gre tunnels do not support remcsum"},
		{"unknown tunnel type", vsBlock("lb_kind TUN type vxlan"), `unknown tunnel type "vxlan"`},
		{"ulvs io", "ulvs {\n io uring\n}\n", f + `2: io: unknown io mode "uring" (write io ring`},
		{"ulvs workers", "ulvs {\n workers 0\n}\n", f + "2: workers: 0 is outside 1..1024"},
		{"ulvs max_conns", "ulvs {\n max_conns 100\n}\n", f + "2: max_conns: 100 is outside 1024..1073741824"},
		{"ulvs tx_ring_frames", "ulvs {\n tx_ring_frames 100000\n}\n", f + "2: tx_ring_frames: 100000 is outside 64..65536"},
		{"ulvs tx_ring_frames count", "ulvs {\n tx_ring_frames\n}\n", "tx_ring_frames N (64..65536)"},
		{"ulvs socket", "ulvs {\n admin_socket run/x.sock\n}\n", "not a usable unix socket path"},
		{"ulvs metrics", "ulvs {\n metrics_listen localhost\n}\n", f + `2: metrics_listen: "localhost" is not an address and port`},
		{"ulvs expire", "ulvs {\n expire_nodest_conn maybe\n}\n", f + `2: expire_nodest_conn: "maybe" is not a boolean`},
		{"ulvs ifname", "ulvs {\n interface_clients this-name-is-too-long\n}\n", "is not an interface name"},
		{"seq step", "~SEQ(i,1,-1,3) real_server 10.0.2.$i 80\n", f + "1: ~SEQ: the step does not lead from start to end"},
		{"lst without values", "~LST(i) router_id $i\n", f + "1: ~LST: ~LST needs a name and at least one value"},
		{"self definition", "$A=x $A\nrouter_id $A\n", f + "2: definitions still expand"},
		{"unmatched quote", "global_defs {\n router_id \"x\n}\n", f + "2: unmatched quote"},
		{"missing close", "global_defs {\n router_id x\n", f + "1: global_defs: 1 missing '}'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := refused(t, tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error\n%v\nwant it to contain\n%s", err, tt.want)
			}
		})
	}
}

func TestSeveralErrorsReported(t *testing.T) {
	err := refused(t, vsBlock("lb_algo x\nweight y"))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("want 2 errors, got %v", err)
	}
	var one *Error
	if !errors.As(err, &one) || one.Keyword != "lb_algo" || one.Pos.Line != 5 {
		t.Errorf("errors.As *Error: %+v", one)
	}
}

func TestConditionals(t *testing.T) {
	in := "global_defs {\n @lb1 router_id one\n @lb2 router_id two\n @^lb1 lvs_timeouts tcp 5\n @^lb2 lvs_timeouts udp 7\n}\n"
	cfg, _, err := parse(t, in, Options{ConfigID: "lb1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global.RouterID != "one" || cfg.Global.LVSTimeouts != (Timeouts{UDP: 7 * time.Second}) {
		t.Errorf("lb1: %+v", cfg.Global)
	}
	cfg, _, err = parse(t, in, Options{ConfigID: "lb2"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global.RouterID != "two" || cfg.Global.LVSTimeouts != (Timeouts{TCP: 5 * time.Second}) {
		t.Errorf("lb2: %+v", cfg.Global)
	}
}

func TestDollarIsLiteral(t *testing.T) {
	cfg, _ := mustParse(t, "global_defs {\n router_id lb$1\n}\n")
	if cfg.Global.RouterID != "lb$1" {
		t.Errorf("router_id %q", cfg.Global.RouterID)
	}
}

func TestULVSBlock(t *testing.T) {
	cfg, warns, err := Load("testdata/ulvs.conf", Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	want := ULVS{InterfaceClients: "veth-c", InterfaceReals: "veth-r", Workers: 2, AdminSocket: "/run/ulvs-test.sock", IO: IOPlain,
		MetricsListen: "127.0.0.1:9117", KeepNodestConn: true, SloppyTCP: true, MaxConns: 65536, TxRingFrames: 2048, TxZeroCopy: true}
	got := cfg.ULVS
	got.Pos = Pos{}
	if got != want || len(warns) != 0 {
		t.Errorf("got %+v, warnings %v", got, warns)
	}
	if cfg.ULVS.Pos.Line != 2 || !strings.HasSuffix(cfg.ULVS.Pos.File, "testdata/ulvs.conf") {
		t.Errorf("pos %v", cfg.ULVS.Pos)
	}
}

func TestServices(t *testing.T) {
	cfg, warns, err := Load("testdata/nat.conf", Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Fatal(warnStrings(warns))
	}
	got, err := cfg.Services()
	if err != nil {
		t.Fatal(err)
	}
	want := []balancer.ServiceConfig{{
		Key:       balancer.ServiceKey{Addr: netip.MustParseAddr("192.0.2.10"), Port: 80, Proto: balancer.TCP},
		Scheduler: "wlc",
		Reals: []balancer.RealConfig{
			{Addr: netip.MustParseAddr("10.0.2.11"), Port: 8080, Method: balancer.NAT, Weight: 3, UpperThreshold: 1000, LowerThreshold: 800},
			{Addr: netip.MustParseAddr("10.0.2.12"), Port: 8080, Method: balancer.NAT, Weight: 1},
		},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	if cfg.Global.RouterID != "LVS_WEB_1" || cfg.Global.LVSTimeouts != (Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}) {
		t.Errorf("global %+v", cfg.Global)
	}
	if !cfg.VirtualServers[0].Reals[1].InhibitOnFailure || cfg.VirtualServers[0].Reals[0].InhibitOnFailure {
		t.Error("inhibit_on_failure")
	}
	if g := cfg.Global; strings.Join(g.NotificationEmail, " ") != "ops@example.com noc@example.com" ||
		g.NotificationEmailFrom != "lb1@example.com" || g.SMTPServer != "192.0.2.25" || g.SMTPConnectTimeout != 30*time.Second ||
		g.VRRP.Version != 2 || g.VRRP.GarpMasterDelay != 5*time.Second || g.VRRP.McastGroup4.String() != "224.0.0.18" {
		t.Errorf("global %+v", g)
	}
}

func TestServicesTUN(t *testing.T) {
	cfg, _, err := Load("testdata/tun.conf", Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := cfg.Services()
	if err != nil {
		t.Fatal(err)
	}
	if s := svcs[0]; s.Scheduler != "sh" || s.Flags != balancer.FlagSchedPort|balancer.FlagSchedFallback ||
		s.Reals[0].Method != balancer.TUN || s.Reals[1].Method != balancer.TUN {
		t.Errorf("sh TUN service %+v", s)
	}
	if s := svcs[1]; s.Flags != balancer.FlagSchedPort|balancer.FlagSchedFallback|balancer.FlagOnePacket || s.Key.Proto != balancer.UDP {
		t.Errorf("mh UDP service %+v", s)
	}

	cfg, _, err = Load("testdata/tun-gue.conf", Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if rs := cfg.VirtualServers[0].Reals[0]; rs.Tunnel != (Tunnel{Type: TunnelGUE, Port: 6080, Checksum: TunnelCsum}) {
		t.Errorf("tunnel %+v", rs.Tunnel)
	}
	if _, err := cfg.Services(); err == nil || !strings.Contains(err.Error(), `tun-gue.conf:6: real_server: TUN type gue is parsed but ulvs tunnels with IPIP only (remove "type gue"`) {
		t.Errorf("gue: got %v", err)
	}
}

// TestTestdata loads every golden file; all must parse, and all but the
// GUE one must convert.
func TestTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.conf")
	if len(files) < 8 {
		t.Fatalf("only %d testdata files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, warns, err := Load(f, Options{ConfigID: "lb1"})
			if strings.Contains(f, "loop") {
				if err == nil || !strings.Contains(err.Error(), "include loop") {
					t.Fatalf("want include loop error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range warns {
				t.Log(w)
			}
			if _, err := cfg.Services(); err != nil && !strings.Contains(f, "gue") {
				t.Error(err)
			}
		})
	}
}

func TestMultiForms(t *testing.T) {
	cfg, warns, err := Load("testdata/multi.conf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 2 || !strings.Contains(warns[0].String(), "multi.conf:6: lvs_sync_daemon: accepted but ignored") ||
		!strings.Contains(warns[1].String(), "multi.conf:90: SSL: accepted but ignored") {
		t.Errorf("warnings: %s", warnStrings(warns))
	}
	if cfg.Global.RouterID != "multi lb" {
		t.Errorf("router_id %q", cfg.Global.RouterID)
	}
	sync := cfg.Global.Extra[0]
	if sync.Keyword != "lvs_sync_daemon" || strings.Join(sync.Args, " ") != "eth1 VI_1 id 10" || sync.Pos.Line != 6 {
		t.Errorf("continuation: %+v", sync)
	}
	if len(cfg.VirtualServers) != 3 {
		t.Fatalf("%d virtual servers", len(cfg.VirtualServers))
	}
	web := cfg.VirtualServers[0]
	if len(web.Reals) != 3 || web.Reals[2].Weight != 0 || web.Reals[2].Checkers[0].Find("misc_path").Args[0] != "/usr/local/bin/check.sh 10.0.2.23 # not a comment" {
		t.Errorf("web %+v", web.Reals)
	}
	if fw := cfg.VirtualServers[1]; fw.FWMark != 7 || fw.Method != balancer.DR || fw.Reals[0].Port != 0 {
		t.Errorf("fwmark %+v", fw)
	}
	if sctp := cfg.VirtualServers[2]; sctp.Protocol != balancer.SCTP || len(sctp.Reals) != 2 {
		t.Errorf("sctp %+v", sctp)
	}
	var kinds []string
	for _, b := range cfg.Blocks {
		kinds = append(kinds, b.Keyword)
	}
	if len(cfg.Groups) != 1 || len(cfg.Groups[0].Entries) != 3 {
		t.Errorf("groups %+v", cfg.Groups)
	}
	if got := strings.Join(kinds, " "); got != "vrrp_sync_group vrrp_instance vrrp_instance SSL" {
		t.Errorf("blocks %s", got)
	}
}

func TestIncludes(t *testing.T) {
	cfg, warns, err := Load("testdata/main.conf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, vs := range cfg.VirtualServers {
		got = append(got, vs.identity())
	}
	// conf.d/*.conf in lexical order, then the brace alternatives in order.
	if strings.Join(got, ", ") != "TCP 192.0.2.70:25, TCP 192.0.2.70:80, UDP 192.0.2.70:53" {
		t.Errorf("services %v", got)
	}
	if n := len(cfg.VirtualServers[1].Reals); n != 2 {
		t.Errorf("include inside a block: %d reals", n)
	}
	if len(cfg.Blocks) != 1 || !strings.HasSuffix(cfg.Blocks[0].Pos.String(), "testdata/conf.d/10-global.conf:1") {
		t.Errorf("blocks %v", cfg.Blocks)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].String(), "testdata/main.conf:7: include: ") || !strings.Contains(warns[0].Msg, "missing-*.conf matches no file") {
		t.Errorf("warnings %s", warnStrings(warns))
	}
	if _, _, err := Load("testdata/main.conf", Options{Strict: true}); err == nil {
		t.Error("strict: a plain include that matches nothing must fail")
	}
}

func TestIncludeFS(t *testing.T) {
	deep := fstest.MapFS{}
	for i := 0; i < maxIncludeDepth+2; i++ {
		deep[filepath.ToSlash(filepath.Join("etc", "d", string(rune('a'+i))+".conf"))] = &fstest.MapFile{Data: []byte("include " + string(rune('a'+i+1)) + ".conf\n")}
	}
	tests := []struct {
		name string
		fsys fstest.MapFS
		main string
		want string // error substring, or "" for success
	}{
		{"relative to the including file", fstest.MapFS{
			"etc/k/sub/a.conf": {Data: []byte("include ../b.conf\n")},
			"etc/k/b.conf":     {Data: []byte("global_defs {\n router_id b\n}\n")},
		}, "include sub/a.conf\n", ""},
		{"absolute path", fstest.MapFS{"opt/x.conf": {Data: []byte("global_defs {\n router_id b\n}\n")}}, "include /opt/x.conf\n", ""},
		{"nested braces", fstest.MapFS{
			"etc/k/x/y.conf": {Data: []byte("")}, "etc/k/x/z.conf": {Data: []byte("")},
			"etc/k/b.conf": {Data: []byte("global_defs {\n router_id b\n}\n")},
		}, "include {x/{y,z},b}.conf\n", ""},
		{"self include", fstest.MapFS{"etc/k/keepalived.conf": {Data: []byte("x")}}, "include keepalived.conf\n", "include loop"},
		{"too deep", deep, "include /etc/d/a.conf\n", "includes nested deeper than 16 levels"},
		{"directory", fstest.MapFS{"etc/k/dir/x": {Data: []byte("")}}, "includer dir\n", "is not a regular file"},
		{"strict variant", fstest.MapFS{}, "includem nothing.conf\n", "nothing.conf matches no file"},
		{"includew", fstest.MapFS{}, "includew *.nothing\n", "*.nothing matches no file"},
		{"includeb", fstest.MapFS{"etc/k/a.conf": {Data: []byte("")}}, "includeb {a,b}.conf\n", "b.conf matches no file"},
		{"two names", fstest.MapFS{}, "include a b\n", "needs exactly one file name"},
		{"bad pattern", fstest.MapFS{}, "include [\n", "bad pattern"},
		{"brace bomb", fstest.MapFS{}, "include " + strings.Repeat("{a,b}", 20) + "\n", "more than 256 patterns"},
		{"unclosed brace", fstest.MapFS{}, "include {a,b\n", "unbalanced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, warns, err := Parse("/etc/k/keepalived.conf", []byte(tt.main), Options{FS: tt.fsys, ConfigID: "x"})
			if tt.want == "" {
				if err != nil || len(warns) != 0 {
					t.Fatalf("err %v warnings %v", err, warns)
				}
				if cfg.Global.RouterID != "b" {
					t.Errorf("router_id %q", cfg.Global.RouterID)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), ": include") {
				t.Errorf("error does not name the keyword: %v", err)
			}
		})
	}
}

func TestExpandBraces(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a", "a"},
		{"a{b,c}d", "abd acd"},
		{"{a,b}{1,2}", "a1 a2 b1 b2"},
		{"x{a,{b,c}}", "xa xb xc"},
		{"{foo/{,cat,dog},bar}", "foo/ foo/cat foo/dog bar"},
		{"lit{x}{a,b}", "lit{x}a lit{x}b"},
		{"a}b", "a}b"},
	}
	for _, tt := range tests {
		got, err := expandBraces(tt.in)
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseTimer(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"6", 6 * time.Second, true}, {"0.5", 500 * time.Millisecond, true}, {".25", 250 * time.Millisecond, true},
		{"1.000001", time.Second + time.Microsecond, true}, {"1.", 0, false}, {"-1", 0, false}, {"1e3", 0, false},
		{"", 0, false}, {"99999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := parseTimer(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%q: got %v, %v", tt.in, got, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "nope.conf"), Options{})
	if err == nil || !strings.Contains(err.Error(), "nope.conf: cannot open") || strings.Contains(err.Error(), "include") {
		t.Errorf("got %v", err)
	}
	if _, statErr := os.Stat("/dev/zero"); statErr == nil {
		if _, _, err := Load("/dev/zero", Options{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("/dev/zero: got %v", err)
		}
	}
}

func TestQuorumErrors(t *testing.T) {
	for body, want := range map[string]string{
		"quorum 0":                   "quorum: 0 is outside 1..4294967295",
		"sorry_server nowhere 80":    "sorry_server:",
		"sorry_server_lvs_method XX": "sorry_server_lvs_method:",
		"alpha maybe":                `alpha: "maybe" is not a boolean`,
	} {
		err := refused(t, vsBlock(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", body, err, want)
		}
	}
}
