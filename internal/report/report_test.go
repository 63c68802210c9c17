package report

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const line = `{"services":[{"service":"TCP 10.0.0.1:80","scheduler":"wrr","reals":[{"addr":"10.0.1.1:80","method":"Masq","weight":3,"active_conns":1,"inactive_conns":2,"conns":9,"in_pkts":40,"out_pkts":30,"in_bytes":4000,"out_bytes":3000}]}],` +
		`"loop":{"rx_frames":100,"tx_frames":90,"inbound":50,"outbound":40,"arp_replies":2,"icmp_sent":1,"ring_drops":3,"tx_ring_full":4,"drops":{"not_ours":10},"balancer_drops":{"table_full":5}}}`
	want := Report{
		Services: []Service{{Service: "TCP 10.0.0.1:80", Scheduler: "wrr", Reals: []Real{{
			Addr: "10.0.1.1:80", Method: "Masq", Weight: 3, Active: 1, Inactive: 2, Conns: 9,
			InPkts: 40, OutPkts: 30, InBytes: 4000, OutBytes: 3000}}}},
		Loop: Loop{RxFrames: 100, TxFrames: 90, Inbound: 50, Outbound: 40, ARPReplies: 2, ICMPSent: 1, RingDrops: 3,
			TxRingFull: 4, Drops: map[string]uint64{"not_ours": 10}, BalancerDrops: map[string]uint64{"table_full": 5}},
	}
	for _, tc := range []struct {
		name, output string
		ok           bool
	}{
		{"alone", line + "\n", true},
		{"among log lines", "time=... level=INFO msg=ready\n{not json\n" + line + "\ntime=... level=INFO msg=bye\n", true},
		{"no trailing newline", line, true},
		{"no report", "time=... level=ERROR msg=\"cannot open ring\"\n", false},
		{"only a broken line", "{\"services\": [\n", false},
		{"empty", "", false},
	} {
		r, err := Parse(tc.output)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.ok && !reflect.DeepEqual(r, want):
			t.Errorf("%s: got %+v\nwant %+v", tc.name, r, want)
		case !tc.ok && err == nil:
			t.Errorf("%s: parsed %+v from output with no report", tc.name, r)
		case !tc.ok && !strings.Contains(err.Error(), "printed no report") || !tc.ok && !strings.Contains(err.Error(), tc.output):
			t.Errorf("%s: error %q does not say the report is missing and show the output", tc.name, err)
		}
	}
}

func TestDropSummary(t *testing.T) {
	for _, tc := range []struct {
		l    Loop
		want string
	}{
		{Loop{}, "none"},
		{Loop{Drops: map[string]uint64{}, BalancerDrops: map[string]uint64{}}, "none"},
		{Loop{Drops: map[string]uint64{"not_ours": 3, "bad_ihl": 7, "fragment": 3}},
			"bad_ihl=7 fragment=3 not_ours=3"},
		{Loop{Drops: map[string]uint64{"no_route": 1}, BalancerDrops: map[string]uint64{"table_full": 2}},
			"balancer:table_full=2 no_route=1"},
	} {
		if got := tc.l.DropSummary(); got != tc.want {
			t.Errorf("DropSummary(%+v) = %q, want %q", tc.l, got, tc.want)
		}
	}
}

// FuzzParse: whatever a process printed, Parse does not panic, and a
// report it found prints and parses back to itself.
func FuzzParse(f *testing.F) {
	f.Add("log\n{\"loop\":{\"rx_frames\":1,\"drops\":{\"x\":2}}}\n")
	f.Add("{\"services\":[{\"reals\":[{\"weight\":-1}]}]}")
	f.Add("{}\n{\"loop\":{}}")
	f.Fuzz(func(t *testing.T, out string) {
		r, err := Parse(out)
		if err != nil {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("report %+v does not print: %v", r, err)
		}
		back, err := Parse(string(b))
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("report %+v printed as %s parses back as %+v (%v)", r, b, back, err)
		}
	})
}
