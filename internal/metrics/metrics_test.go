package metrics

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward"
	"github.com/ulvs/ulvs/forward/neigh"
	"github.com/ulvs/ulvs/internal/status"
)

type fakeSource struct{}

func (fakeSource) Counters() (*status.Snapshot, status.Stats) {
	a := netip.MustParseAddr
	return &status.Snapshot{ConnTableSize: 1 << 20, ConnCount: 42, Services: []status.Service{
			{Proto: "TCP", Addr: a("10.0.1.100"), Port: 80, Stats: status.Stats{Conns: 10, InPkts: 100, OutPkts: 90, InBytes: 1000, OutBytes: 9000},
				Reals: []status.Real{{Addr: a("10.0.2.11"), Port: 80, Weight: 3, ActiveConns: 4, InactConns: 5, PersistConns: 1,
					Stats: status.Stats{Conns: 7, InPkts: 70, InBytes: 700}, Health: "up"}},
				Failed: []status.Real{{Addr: a("10.0.2.12"), Port: 80, Health: "down"}}, Quorum: "up"},
			{Proto: "FWM", FWMark: 10001000, Stats: status.Stats{Conns: 1, InPkts: 2, InBytes: 3},
				Reals: []status.Real{{Addr: a("192.168.50.26"), Port: 3306, Weight: 20, ActiveConns: 64, InactConns: 1}}},
		}, VRRP: []status.VRRPInstance{{Name: "VI_1", Interface: "eth0", VRID: 51, State: "MASTER", Priority: 150,
			BecameMaster: 2, AdvertsSent: 40, AdvertsReceived: 3, Drops: map[string]uint64{"ttl": 5}}}},
		status.Stats{Conns: 1000, InPkts: 5}
}

func (fakeSource) Loop() forward.LoopStats {
	var ls forward.LoopStats
	ls.RxFrames, ls.TxFrames, ls.Inbound, ls.Outbound, ls.RingDrops = 500, 400, 300, 100, 7
	ls.Drops[1] = 11
	ls.BalancerDrops[conntrack.DropNotSYN] = 3
	return ls
}

func (fakeSource) Neighbours() map[string]NeighbourState {
	return map[string]NeighbourState{"eth1": {Stats: neigh.Stats{Requests: 9, Resolved: 2, Failures: 1},
		ByState: map[string]int{"reachable": 2}}}
}

func (fakeSource) Reloads() Reloads {
	return Reloads{OK: 3, Failed: 1, LastOK: time.Unix(1700000000, 0), LastFailed: true}
}

// scrape serves /metrics and parses it with Prometheus's own text parser.
func scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(Handler(New(fakeSource{}), "test"))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		if len(got) != len(labels) {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.Counter.GetValue()
		case dto.MetricType_GAUGE:
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("%s%v not found", name, labels)
	return 0
}

func TestScrape(t *testing.T) {
	fams := scrape(t)
	be := map[string]string{"local_address": "10.0.1.100", "local_port": "80", "remote_address": "10.0.2.11",
		"remote_port": "80", "proto": "TCP", "local_mark": ""}
	fwm := map[string]string{"local_address": "", "local_port": "0", "remote_address": "192.168.50.26",
		"remote_port": "3306", "proto": "FWM", "local_mark": "10001000"}
	vi := map[string]string{"instance": "VI_1", "interface": "eth0", "vrid": "51"}
	cases := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"node_ipvs_connections_total", nil, 1011},
		{"node_ipvs_incoming_packets_total", nil, 107},
		{"node_ipvs_outgoing_packets_total", nil, 90},
		{"node_ipvs_incoming_bytes_total", nil, 1003},
		{"node_ipvs_outgoing_bytes_total", nil, 9000},
		{"node_ipvs_backend_connections_active", be, 4},
		{"node_ipvs_backend_connections_inactive", be, 5},
		{"node_ipvs_backend_weight", be, 3},
		{"node_ipvs_backend_connections_active", fwm, 64},
		{"node_ipvs_backend_weight", fwm, 20},
		{"ulvs_service_connections_total", map[string]string{"local_address": "10.0.1.100", "local_port": "80", "proto": "TCP", "local_mark": ""}, 10},
		{"ulvs_backend_connections_total", be, 7},
		{"ulvs_real_up", be, 1},
		{"ulvs_real_up", map[string]string{"local_address": "10.0.1.100", "local_port": "80", "remote_address": "10.0.2.12",
			"remote_port": "80", "proto": "TCP", "local_mark": ""}, 0},
		{"ulvs_service_quorum_up", map[string]string{"local_address": "10.0.1.100", "local_port": "80", "proto": "TCP", "local_mark": ""}, 1},
		{"ulvs_backend_persistent_connections", be, 1},
		{"ulvs_balancer_drops_total", map[string]string{"reason": "tcp_not_syn"}, 3},
		{"ulvs_drops_total", map[string]string{"reason": forward.DropReason(1).String()}, 11},
		{"ulvs_forwarded_packets_total", map[string]string{"direction": "outbound"}, 100},
		{"ulvs_ring_drops_total", nil, 7},
		{"ulvs_conn_table_entries", nil, 42},
		{"ulvs_conn_table_capacity", nil, 1 << 20},
		{"ulvs_neighbour_requests_total", map[string]string{"interface": "eth1"}, 9},
		{"ulvs_neighbour_entries", map[string]string{"interface": "eth1", "state": "reachable"}, 2},
		{"ulvs_config_reloads_total", map[string]string{"result": "failure"}, 1},
		{"ulvs_config_last_reload_success_timestamp_seconds", nil, 1700000000},
		{"ulvs_config_last_reload_successful", nil, 0},
		{"ulvs_build_info", map[string]string{"version": "test"}, 1},
		{"ulvs_vrrp_state", vi, 2},
		{"ulvs_vrrp_priority", vi, 150},
		{"ulvs_vrrp_became_master_total", vi, 2},
		{"ulvs_vrrp_adverts_sent_total", vi, 40},
		{"ulvs_vrrp_adverts_received_total", vi, 3},
		{"ulvs_vrrp_drops_total", map[string]string{"instance": "VI_1", "interface": "eth0", "vrid": "51", "reason": "ttl"}, 5},
	}
	for _, c := range cases {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for name, f := range fams {
		if strings.HasSuffix(name, "_total") && f.GetType() != dto.MetricType_COUNTER && !strings.HasPrefix(name, "go_") {
			t.Errorf("%s ends in _total but is a %v", name, f.GetType())
		}
	}
}
