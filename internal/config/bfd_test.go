package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestBFDInstance(t *testing.T) {
	cfg, warns := mustParse(t, `bfd_instance defaults {
    neighbor_ip 10.0.2.1
}
bfd_instance tuned {
    neighbour_ip 2001:db8::1
    source_ip 2001:db8::2
    min_rx 3.312
    min_tx 50
    idle_tx 2000
    multiplier 3
    passive
    hoplimit 200
    max_hops -1
    multihop
    weight -20 reverse
    checker
}
`+vsBlock(""))
	if len(warns) != 0 {
		t.Errorf("warnings: %s", warnStrings(warns))
	}
	if len(cfg.BFD) != 2 {
		t.Fatalf("%d bfd instances, want 2", len(cfg.BFD))
	}
	def := *cfg.BFD[0]
	want := BFDInstance{Pos: def.Pos, Name: "defaults", Neighbor: netip.MustParseAddr("10.0.2.1"),
		MinRx: 10 * time.Millisecond, MinTx: 10 * time.Millisecond, IdleTx: time.Second, Multiplier: 5, TTL: 255}
	if def != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", def, want)
	}
	tuned := *cfg.BFD[1]
	want = BFDInstance{Pos: tuned.Pos, Name: "tuned", Neighbor: netip.MustParseAddr("2001:db8::1"),
		Source: netip.MustParseAddr("2001:db8::2"), MinRx: 3312 * time.Microsecond, MinTx: 50 * time.Millisecond,
		IdleTx: 2 * time.Second, Multiplier: 3, Passive: true, TTL: 200, MaxHops: 255, Multihop: true,
		Weight: -20, WeightReverse: true, CheckerOnly: true}
	if tuned != want {
		t.Errorf("tuned:\n got %+v\nwant %+v", tuned, want)
	}
}

func TestBFDCheck(t *testing.T) {
	cfg, warns := mustParse(t, `bfd_instance gw {
    neighbor_ip 10.0.2.1
}
bfd_instance other {
    neighbor_ip 10.0.2.2
}
virtual_server 10.0.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.2.1 80 {
        BFD_CHECK {
            name gw
        }
        BFD_CHECK {
            name other
            alpha
        }
        TCP_CHECK {
        }
    }
}
`)
	if len(warns) != 0 {
		t.Errorf("warnings: %s", warnStrings(warns))
	}
	h := cfg.VirtualServers[0].Reals[0].Health
	if len(h.Checks) != 3 || len(h.Unsupported) != 0 {
		t.Fatalf("%d checks, %d unsupported; want 3 and 0", len(h.Checks), len(h.Unsupported))
	}
	for i, want := range []struct {
		name  string
		alpha bool
	}{{"gw", false}, {"other", true}} {
		c := h.Checks[i]
		if c.Kind != CheckBFD || c.BFD == nil || c.BFD.Name != want.name || c.Alpha != want.alpha {
			t.Errorf("check %d: kind %v, bfd %+v, alpha %v; want BFD_CHECK %s alpha %v", i, c.Kind, c.BFD, c.Alpha, want.name, want.alpha)
		}
	}
	if h.Checks[2].Kind != CheckTCP {
		t.Errorf("the TCP_CHECK after the BFD_CHECKs is %v", h.Checks[2].Kind)
	}
}

func TestBFDErrors(t *testing.T) {
	const f = "/etc/keepalived/keepalived.conf:"
	check := func(body string) string {
		return "bfd_instance gw {\n neighbor_ip 10.0.2.1\n}\nbfd_instance v {\n neighbor_ip 10.0.2.9\n vrrp\n}\n" +
			"virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.2.1 80 {\n" + body + "\n }\n}\n"
	}
	tests := []struct {
		name, in, want string
	}{
		{"no neighbor", "bfd_instance x {\n min_rx 5\n}\n", f + "1: bfd_instance: bfd_instance x has no neighbor_ip"},
		{"bad neighbor", "bfd_instance x {\n neighbor_ip gw.example\n}\n", f + `2: neighbor_ip: "gw.example" is not an IP address`},
		{"family", "bfd_instance x {\n neighbor_ip 10.0.0.1\n source_ip ::1\n}\n", "differ in family"},
		{"min_rx zero", "bfd_instance x {\n neighbor_ip 10.0.0.1\n min_rx 0\n}\n", f + `3: min_rx: "0" is not a valid interval`},
		{"min_tx decimals", "bfd_instance x {\n neighbor_ip 10.0.0.1\n min_tx 1.0001\n}\n", "up to 3 decimals"},
		{"idle_tx below 1 s", "bfd_instance x {\n neighbor_ip 10.0.0.1\n idle_tx 999\n}\n", f + `3: idle_tx: "999" is not a valid interval (write idle_tx MS (milliseconds, 1000..`},
		{"multiplier", "bfd_instance x {\n neighbor_ip 10.0.0.1\n multiplier 0\n}\n", f + "3: multiplier: 0 is outside 1..255"},
		{"max_hops", "bfd_instance x {\n neighbor_ip 10.0.0.1\n max_hops 300\n}\n", `"300" is not a number in -1..255`},
		{"weight option", "bfd_instance x {\n neighbor_ip 10.0.0.1\n weight 5 backwards\n}\n", `unknown weight option "backwards"`},
		{"duplicate name", "bfd_instance x {\n neighbor_ip 10.0.0.1\n}\nbfd_instance x {\n neighbor_ip 10.0.0.2\n}\n", f + "4: bfd_instance: bfd_instance x is already defined at " + f + "1"},
		{"duplicate neighbour", "bfd_instance x {\n neighbor_ip 10.0.0.1\n}\nbfd_instance y {\n neighbor_ip 10.0.0.1\n}\n", "has the same neighbour as x"},
		{"long name", "bfd_instance " + strings.Repeat("n", 32) + " {\n neighbor_ip 10.0.0.1\n}\n", "is too long"},
		{"check without name", check("BFD_CHECK {\n}"), f + "11: BFD_CHECK: BFD_CHECK has no name"},
		{"check unknown instance", check("BFD_CHECK {\n name nope\n}"), f + "11: BFD_CHECK: BFD_CHECK: no bfd_instance nope for the checkers"},
		{"check vrrp-only instance", check("BFD_CHECK {\n name v\n}"), "no bfd_instance v for the checkers"},
		{"check twice", check("BFD_CHECK {\n name gw\n}\nBFD_CHECK {\n name gw\n}"), "already follows bfd_instance gw"},
		{"check two names", check("BFD_CHECK {\n name gw\n name v\n}"), "name is already gw"},
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

// TestBFDUnknownKeywords: like keepalived, an unknown keyword in the
// blocks warns and is skipped; BFD_CHECK takes none of the common checker
// keywords.
func TestBFDUnknownKeywords(t *testing.T) {
	_, warns := mustParse(t, `bfd_instance gw {
    neighbor_ip 10.0.2.1
    min_rxx 5
}
virtual_server 10.0.0.1 80 {
    protocol TCP
    real_server 10.0.2.1 80 {
        BFD_CHECK {
            name gw
            connect_port 80
        }
    }
}
`)
	got := warnStrings(warns)
	for _, want := range []string{":3: min_rxx: unknown keyword in bfd_instance; ignored (did you mean min_rx?)",
		":10: connect_port: unknown keyword in BFD_CHECK; ignored"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
}

func TestTrackBFDWarns(t *testing.T) {
	_, warns := mustParse(t, `bfd_instance gw {
    neighbor_ip 10.0.2.1
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.1
    }
    track_bfd {
        gw weight 10
    }
}
`+vsBlock(""))
	if got := warnStrings(warns); !strings.Contains(got, ":11: track_bfd: vrrp_instance VI_1: track_bfd is not run by ulvs") {
		t.Errorf("warnings do not name track_bfd at line 11:\n%s", got)
	}
}
