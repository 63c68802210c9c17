package config

import (
	"net/netip"
	"strings"
	"testing"
)

// syncInstance is the instance the lvs_sync_daemon lines name.
const syncInstance = `vrrp_instance VI_1 {
    interface eth1
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.1.100
    }
}
`

// TestLVSSyncDaemon types the lvs_sync_daemon line with keepalived's
// defaults and refuses what keepalived refuses.
func TestLVSSyncDaemon(t *testing.T) {
	group := netip.MustParseAddr("224.0.0.81")
	for _, tc := range []struct {
		line string
		want *LVSSyncDaemon // nil: an error containing err
		err  string
		warn string // a warning besides "accepted but ignored"
	}{
		{line: "eth1 VI_1", want: &LVSSyncDaemon{Interface: "eth1", Instance: "VI_1", SyncID: 51, Port: 8848, TTL: 1, Group: group}},
		{line: "eth1 VI_1 id 10 maxlen 1400 port 8849 ttl 2 group 239.1.2.3",
			want: &LVSSyncDaemon{Interface: "eth1", Instance: "VI_1", SyncID: 10, MaxLen: 1400, Port: 8849, TTL: 2,
				Group: netip.MustParseAddr("239.1.2.3")}},
		{line: "eth1 VI_1 group ff02::81", want: &LVSSyncDaemon{Interface: "eth1", Instance: "VI_1", SyncID: 51, Port: 8848, TTL: 1,
			Group: netip.MustParseAddr("ff02::81")}},
		{line: "eth1 VI_1 port 0 ttl 0", want: &LVSSyncDaemon{Interface: "eth1", Instance: "VI_1", SyncID: 51, Port: 8848, TTL: 1, Group: group}},
		{line: "eth1 VI_1 7", want: &LVSSyncDaemon{Interface: "eth1", Instance: "VI_1", SyncID: 7, Port: 8848, TTL: 1, Group: group},
			warn: `write "id 7"`},
		{line: "eth1", err: "needs at least 2 values"},
		{line: "eth1 VI_1 id 256", err: "256"},
		{line: "eth1 VI_1 maxlen 65508", err: "65508"},
		{line: "eth1 VI_1 port 70000", err: "70000"},
		{line: "eth1 VI_1 ttl 300", err: "300"},
		{line: "eth1 VI_1 group 10.0.0.1", err: "not a multicast address"},
		{line: "eth1 VI_1 id", err: "id needs a value"},
		{line: "eth1 VI_1 mtu 1500", err: `unknown option "mtu"`},
		{line: "averyveryverylongname VI_1", err: "too long"},
		{line: "eth1 VI_2", err: "no vrrp_instance VI_2"},
	} {
		conf := "global_defs {\n  lvs_sync_daemon " + tc.line + "\n}\n" + syncInstance
		cfg, warns, err := Parse("t.conf", []byte(conf), Options{})
		if tc.want == nil {
			// Left out with a warning, as keepalived; an error with --strict.
			if ws := warnStrings(warns); err != nil || cfg.Global.LVSSyncDaemon != nil || !strings.Contains(ws, tc.err) {
				t.Errorf("%s: error %v, typed %+v, warnings %s; want the line left out with a warning containing %q",
					tc.line, err, cfg.Global.LVSSyncDaemon, ws, tc.err)
			}
			if _, _, err := Parse("t.conf", []byte(conf), Options{Strict: true}); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: strict error %v, want one containing %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		got := cfg.Global.LVSSyncDaemon
		if got == nil {
			t.Errorf("%s: not typed", tc.line)
			continue
		}
		got.Pos = Pos{}
		if *got != *tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.line, *got, *tc.want)
		}
		ws := warnStrings(warns)
		if !strings.Contains(ws, "accepted but ignored") || tc.warn != "" && !strings.Contains(ws, tc.warn) {
			t.Errorf("%s: warnings %s", tc.line, ws)
		}
	}
}
