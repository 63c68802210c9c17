package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestBGPBlock(t *testing.T) {
	cfg, warns := mustParse(t, `
ulvs {
    bgp {
        local_as 65001
        router_id 10.0.1.11
        neighbor 10.0.1.1 {
            remote_as 65000
            hold_time 3
            password s3cret
            port 1179
        }
        neighbor 10.0.2.1 {
            remote_as 4200000000
        }
        announce always
        drain_time 2.5
    }
}
virtual_server 192.0.2.1 80 {
    lb_algo mh
    protocol TCP
    lb_kind DR
    real_server 10.0.0.2 80 {
    }
}
`)
	if len(warns) != 0 {
		t.Fatalf("warnings: %s", warnStrings(warns))
	}
	b := cfg.ULVS.BGP
	if b == nil {
		t.Fatal("no BGP block decoded")
	}
	if b.LocalAS != 65001 || b.RouterID != netip.MustParseAddr("10.0.1.11") || b.Announce != AnnounceAlways ||
		b.DrainTime != 2500*time.Millisecond || b.Pos.Line != 3 {
		t.Errorf("bgp = %+v", b)
	}
	if len(b.Neighbors) != 2 {
		t.Fatalf("%d neighbours, want 2", len(b.Neighbors))
	}
	n := b.Neighbors[0]
	if n.Addr != netip.MustParseAddr("10.0.1.1") || n.RemoteAS != 65000 || n.HoldTime != 3*time.Second ||
		n.Password != "s3cret" || n.Port != 1179 || n.Pos.Line != 6 {
		t.Errorf("neighbour 0 = %+v", n)
	}
	if n := b.Neighbors[1]; n.RemoteAS != 4200000000 || n.HoldTime != 0 || n.Port != 0 {
		t.Errorf("neighbour 1 = %+v", n)
	}
}

func TestBGPDefaults(t *testing.T) {
	cfg, _ := mustParse(t, "ulvs {\n bgp {\n  local_as 65001\n  neighbor 10.0.1.1 {\n   remote_as 65000\n  }\n }\n}\n")
	b := cfg.ULVS.BGP
	if b.Announce != AnnounceHealthy || b.DrainTime != DefaultDrainTime || b.RouterID.IsValid() {
		t.Errorf("defaults = %+v", b)
	}
	if cfg, _ := mustParse(t, "ulvs {\n io ring\n}\n"); cfg.ULVS.BGP != nil {
		t.Error("a ulvs block without bgp decoded a BGP block")
	}
}

// TestBGPErrors: each mistake is an error on its line, naming the keyword.
func TestBGPErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string // "line: keyword: message part"
	}{
		{"no local_as", "neighbor 10.0.1.1 {\nremote_as 1\n}", "3: bgp: bgp needs local_as"},
		{"no neighbor", "local_as 1", "3: bgp: bgp has no neighbor"},
		{"AS_TRANS", "local_as 23456\nneighbor 10.0.1.1 {\nremote_as 1\n}", "4: local_as: 23456 is AS_TRANS"},
		{"AS zero", "local_as 0\nneighbor 10.0.1.1 {\nremote_as 1\n}", "4: local_as: 0 is outside"},
		{"AS too big", "local_as 4294967296\nneighbor 10.0.1.1 {\nremote_as 1\n}", "4: local_as: 4294967296 is outside"},
		{"router id v6", "local_as 1\nrouter_id ::1\nneighbor 10.0.1.1 {\nremote_as 1\n}", "5: router_id: \"::1\" is not a router id"},
		{"bad neighbour", "local_as 1\nneighbor foo {\nremote_as 1\n}", "5: neighbor: \"foo\" is not a neighbour address"},
		{"no remote_as", "local_as 1\nneighbor 10.0.1.1 {\n}", "5: neighbor: neighbor 10.0.1.1 needs remote_as"},
		{"duplicate neighbour", "local_as 1\nneighbor 10.0.1.1 {\nremote_as 1\n}\nneighbor 10.0.1.1 {\nremote_as 2\n}",
			"8: neighbor: neighbor 10.0.1.1 is already defined"},
		{"hold time 2", "local_as 1\nneighbor 10.0.1.1 {\nremote_as 1\nhold_time 2\n}", "7: hold_time: a hold time of 2 s"},
		{"long password", "local_as 1\nneighbor 10.0.1.1 {\nremote_as 1\npassword " + strings.Repeat("x", 81) + "\n}",
			"7: password: the TCP MD5 key is 81 bytes"},
		{"port 0", "local_as 1\nneighbor 10.0.1.1 {\nremote_as 1\nport 0\n}", "7: port: 0 is outside"},
		{"announce", "local_as 1\nannounce sometimes\nneighbor 10.0.1.1 {\nremote_as 1\n}", "5: announce: unknown mode \"sometimes\""},
		{"drain_time", "local_as 1\ndrain_time 7200\nneighbor 10.0.1.1 {\nremote_as 1\n}", "5: drain_time: 2h0m0s is longer than an hour"},
		{"neighbor without block", "local_as 1\nneighbor 10.0.1.1", "5: neighbor: needs a { } block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := refused(t, "ulvs {\n\n  bgp {\n"+tc.body+"\n}\n}\n")
			if err == nil {
				t.Fatalf("no error; want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), ":"+tc.want) {
				t.Errorf("error:\n%v\nwant one containing %q", err, tc.want)
			}
		})
	}
}

func TestBGPWarnsAboutNAT(t *testing.T) {
	_, warns := mustParse(t, `
ulvs {
    bgp {
        local_as 65001
        neighbor 10.0.1.1 {
            remote_as 65000
        }
    }
}
virtual_server 192.0.2.1 80 {
    lb_algo mh
    protocol TCP
    lb_kind NAT
    real_server 10.0.0.2 80 {
    }
}
virtual_server 192.0.2.1 443 {
    lb_algo mh
    protocol TCP
    lb_kind DR
    real_server 10.0.0.2 443 {
    }
}
`)
	s := warnStrings(warns)
	if !strings.Contains(s, ":10: virtual_server: TCP 192.0.2.1:80 uses NAT and bgp announces") || strings.Contains(s, "443") {
		t.Errorf("warnings:\n%s\nwant one NAT warning for port 80 at line 10", s)
	}
}
