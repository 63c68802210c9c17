// Package metrics exports a director's state to Prometheus: the metric
// names and labels node_exporter's ipvs collector uses (so existing IPVS
// dashboards work unchanged), plus ulvs_* metrics for what IPVS has no
// counter for: drops by reason, ring and socket statistics, the connection
// table's fill, ARP resolution, per-service traffic and configuration
// reloads. Everything is read at scrape time; nothing is counted twice.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ulvs/ulvs/balancer/conntrack"
	"github.com/ulvs/ulvs/forward"
	"github.com/ulvs/ulvs/forward/neigh"
	"github.com/ulvs/ulvs/internal/status"
)

// Source is what the collector reads at each scrape.
type Source interface {
	// Counters returns the table with cumulative (never zeroed) counters,
	// and the totals of services removed so far (IPVS's global counters
	// do not shrink when a service goes away).
	Counters() (snap *status.Snapshot, retired status.Stats)
	Loop() forward.LoopStats
	// Neighbours returns each interface's ARP cache counters and entries.
	Neighbours() map[string]NeighbourState
	Reloads() Reloads
}

// NeighbourState is one interface's ARP resolution state.
type NeighbourState struct {
	Stats   neigh.Stats
	ByState map[string]int // entries by state: incomplete, reachable, refreshing, failed, static
}

// Reloads counts configuration reloads.
type Reloads struct {
	OK, Failed uint64
	LastOK     time.Time
	// LastFailed reports whether the most recent reload failed.
	LastFailed bool
}

var backendLabels = []string{"local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"}
var serviceLabels = []string{"local_address", "local_port", "proto", "local_mark"}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The node_exporter ipvs collector's metrics (collector/ipvs_linux.go).
var (
	nodeConns       = desc("node_ipvs_connections_total", "The total number of connections made.")
	nodeInPkts      = desc("node_ipvs_incoming_packets_total", "The total number of incoming packets.")
	nodeOutPkts     = desc("node_ipvs_outgoing_packets_total", "The total number of outgoing packets.")
	nodeInBytes     = desc("node_ipvs_incoming_bytes_total", "The total amount of incoming data.")
	nodeOutBytes    = desc("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data.")
	nodeActive      = desc("node_ipvs_backend_connections_active", "The current active connections by local and remote address.", backendLabels...)
	nodeInactive    = desc("node_ipvs_backend_connections_inactive", "The current inactive connections by local and remote address.", backendLabels...)
	realUp          = desc("ulvs_real_up", "Health-check verdict of the real server: 1 up, 0 down (only servers with checkers).", backendLabels...)
	quorumUp        = desc("ulvs_service_quorum_up", "1 while the virtual service holds its quorum, 0 while it is lost (only services with checkers).", serviceLabels...)
	nodeWeight      = desc("node_ipvs_backend_weight", "The current backend weight by local and remote address.", backendLabels...)
	svcConns        = desc("ulvs_service_connections_total", "Connections scheduled by the virtual service.", serviceLabels...)
	svcInPkts       = desc("ulvs_service_incoming_packets_total", "Client-to-server packets of the virtual service.", serviceLabels...)
	svcOutPkts      = desc("ulvs_service_outgoing_packets_total", "Server-to-client packets of the virtual service (NAT only).", serviceLabels...)
	svcInBytes      = desc("ulvs_service_incoming_bytes_total", "Client-to-server bytes of the virtual service.", serviceLabels...)
	svcOutBytes     = desc("ulvs_service_outgoing_bytes_total", "Server-to-client bytes of the virtual service (NAT only).", serviceLabels...)
	beConns         = desc("ulvs_backend_connections_total", "Connections scheduled to the real server.", backendLabels...)
	bePersist       = desc("ulvs_backend_persistent_connections", "Persistence templates pointing at the real server.", backendLabels...)
	beInPkts        = desc("ulvs_backend_incoming_packets_total", "Client-to-server packets forwarded to the real server.", backendLabels...)
	beInBytes       = desc("ulvs_backend_incoming_bytes_total", "Client-to-server bytes forwarded to the real server.", backendLabels...)
	drops           = desc("ulvs_drops_total", "Frames the data plane did not forward, by reason.", "reason")
	balancerDrops   = desc("ulvs_balancer_drops_total", "Packets the connection director dropped, by reason.", "reason")
	rxFrames        = desc("ulvs_rx_frames_total", "Frames received from the AF_PACKET sockets.")
	txFrames        = desc("ulvs_tx_frames_total", "Frames sent.")
	forwarded       = desc("ulvs_forwarded_packets_total", "Packets forwarded, by direction (inbound: to a real server; outbound: NAT replies).", "direction")
	ringDrops       = desc("ulvs_ring_drops_total", "Frames the kernel could not put in an RX ring (tp_drops).")
	txRingFull      = desc("ulvs_tx_ring_full_total", "Frames dropped for lack of a TX ring slot.")
	arpReplies      = desc("ulvs_arp_replies_total", "ARP replies sent for the VIPs.")
	icmpSent        = desc("ulvs_icmp_sent_total", "ICMP errors sent (fragmentation needed, unreachable).")
	connEntries     = desc("ulvs_conn_table_entries", "Connection table entries (connections and persistence templates).")
	connCapacity    = desc("ulvs_conn_table_capacity", "Connection table capacity in entries.")
	arpRequests     = desc("ulvs_neighbour_requests_total", "ARP requests sent to resolve next hops.", "interface")
	arpResolved     = desc("ulvs_neighbour_resolved_total", "Next hops that got their first ARP answer.", "interface")
	arpRefreshed    = desc("ulvs_neighbour_refreshed_total", "ARP answers that renewed a known next hop.", "interface")
	arpFailures     = desc("ulvs_neighbour_failures_total", "Next hops that did not answer.", "interface")
	arpQueueDrops   = desc("ulvs_neighbour_queue_drops_total", "Resolution requests dropped because the queue was full.", "interface")
	arpEntries      = desc("ulvs_neighbour_entries", "Neighbour cache entries by state.", "interface", "state")
	reloads         = desc("ulvs_config_reloads_total", "Configuration reloads by result.", "result")
	reloadLastOK    = desc("ulvs_config_last_reload_success_timestamp_seconds", "When the configuration was last loaded successfully.")
	reloadLastState = desc("ulvs_config_last_reload_successful", "Whether the last configuration reload succeeded (1) or failed (0).")
	vrrpState       = desc("ulvs_vrrp_state", "VRRP instance state: 0 init, 1 backup, 2 master, 3 fault, 4 stopped (keepalived-exporter's numbering).", vrrpLabels...)
	vrrpPriority    = desc("ulvs_vrrp_priority", "VRRP instance effective priority.", vrrpLabels...)
	vrrpMasters     = desc("ulvs_vrrp_became_master_total", "Transitions of the VRRP instance to MASTER.", vrrpLabels...)
	vrrpSent        = desc("ulvs_vrrp_adverts_sent_total", "VRRP advertisements sent.", vrrpLabels...)
	vrrpReceived    = desc("ulvs_vrrp_adverts_received_total", "VRRP advertisements accepted.", vrrpLabels...)
	vrrpDrops       = desc("ulvs_vrrp_drops_total", "VRRP packets discarded by the receive checks, by reason.", append(vrrpLabels, "reason")...)
)

var vrrpLabels = []string{"instance", "interface", "vrid"}

// vrrpStateValue numbers states as keepalived-exporter does.
var vrrpStateValue = map[string]float64{"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3, "STOP": 4, "STOPPED": 4}

// Collector is a prometheus.Collector over a Source.
type Collector struct {
	src Source
}

// New returns a collector reading src.
func New(src Source) *Collector { return &Collector{src: src} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeConns, nodeInPkts, nodeOutPkts, nodeInBytes, nodeOutBytes, nodeActive,
		nodeInactive, nodeWeight, realUp, quorumUp, svcConns, svcInPkts, svcOutPkts, svcInBytes, svcOutBytes, beConns, bePersist,
		beInPkts, beInBytes, drops, balancerDrops, rxFrames, txFrames, forwarded, ringDrops, txRingFull, arpReplies,
		icmpSent, connEntries, connCapacity, arpRequests, arpResolved, arpRefreshed, arpFailures, arpQueueDrops,
		arpEntries, reloads, reloadLastOK, reloadLastState, vrrpState, vrrpPriority, vrrpMasters, vrrpSent,
		vrrpReceived, vrrpDrops, alertMails} {
		ch <- d
	}
	for _, d := range bgpDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}

	snap, total := c.src.Counters()
	collectBGP(ch, snap.BGP)
	for _, s := range snap.Services {
		total.Conns += s.Stats.Conns
		total.InPkts += s.Stats.InPkts
		total.OutPkts += s.Stats.OutPkts
		total.InBytes += s.Stats.InBytes
		total.OutBytes += s.Stats.OutBytes
		// node_exporter's labels: an fwmark service has proto "FWM", an
		// empty local_address and local_port "0".
		laddr, lport, mark := s.Addr.String(), strconv.Itoa(int(s.Port)), ""
		if s.FWMark != 0 {
			laddr, lport, mark = "", "0", strconv.FormatUint(uint64(s.FWMark), 10)
		}
		sl := []string{laddr, lport, s.Proto, mark}
		counter(svcConns, s.Stats.Conns, sl...)
		counter(svcInPkts, s.Stats.InPkts, sl...)
		counter(svcOutPkts, s.Stats.OutPkts, sl...)
		counter(svcInBytes, s.Stats.InBytes, sl...)
		counter(svcOutBytes, s.Stats.OutBytes, sl...)
		for _, r := range s.Reals {
			bl := []string{laddr, lport, r.Addr.String(), strconv.Itoa(int(r.Port)), s.Proto, mark}
			gauge(nodeActive, float64(r.ActiveConns), bl...)
			gauge(nodeInactive, float64(r.InactConns), bl...)
			gauge(nodeWeight, float64(r.Weight), bl...)
			counter(beConns, r.Stats.Conns, bl...)
			gauge(bePersist, float64(r.PersistConns), bl...)
			counter(beInPkts, r.Stats.InPkts, bl...)
			counter(beInBytes, r.Stats.InBytes, bl...)
		}
		for _, list := range [][]status.Real{s.Reals, s.Failed} {
			for _, r := range list {
				if r.Health == "" || r.Health == "sorry" {
					continue
				}
				up := 0.0
				if r.Health != "down" {
					up = 1
				}
				gauge(realUp, up, laddr, lport, r.Addr.String(), strconv.Itoa(int(r.Port)), s.Proto, mark)
			}
		}
		if s.Quorum != "" {
			up := 0.0
			if s.Quorum == "up" {
				up = 1
			}
			gauge(quorumUp, up, sl...)
		}
	}
	counter(nodeConns, total.Conns)
	counter(nodeInPkts, total.InPkts)
	counter(nodeOutPkts, total.OutPkts)
	counter(nodeInBytes, total.InBytes)
	counter(nodeOutBytes, total.OutBytes)
	gauge(connEntries, float64(snap.ConnCount))
	for _, v := range snap.VRRP {
		l := []string{v.Name, v.Interface, strconv.Itoa(int(v.VRID))}
		gauge(vrrpState, vrrpStateValue[strings.ToUpper(v.State)], l...)
		gauge(vrrpPriority, float64(v.Priority), l...)
		counter(vrrpMasters, v.BecameMaster, l...)
		counter(vrrpSent, v.AdvertsSent, l...)
		counter(vrrpReceived, v.AdvertsReceived, l...)
		for r, n := range v.Drops {
			counter(vrrpDrops, n, append(l, r)...)
		}
	}
	gauge(connCapacity, float64(snap.ConnTableSize))

	ls := c.src.Loop()
	for i, v := range ls.Drops {
		if r := forward.DropReason(i); r != 0 {
			counter(drops, v, r.String())
		}
	}
	for i, v := range ls.BalancerDrops {
		if r := conntrack.DropReason(i); r != conntrack.DropNone {
			counter(balancerDrops, v, r.String())
		}
	}
	counter(rxFrames, ls.RxFrames)
	counter(txFrames, ls.TxFrames)
	counter(forwarded, ls.Inbound, "inbound")
	counter(forwarded, ls.Outbound, "outbound")
	counter(ringDrops, ls.RingDrops)
	counter(txRingFull, ls.TxRingFull)
	counter(arpReplies, ls.ARPReplies)
	counter(icmpSent, ls.ICMPSent)

	for ifc, n := range c.src.Neighbours() {
		counter(arpRequests, n.Stats.Requests, ifc)
		counter(arpResolved, n.Stats.Resolved, ifc)
		counter(arpRefreshed, n.Stats.Refreshed, ifc)
		counter(arpFailures, n.Stats.Failures, ifc)
		counter(arpQueueDrops, n.Stats.QueueDrops, ifc)
		for _, st := range []string{"incomplete", "reachable", "refreshing", "failed", "static"} {
			gauge(arpEntries, float64(n.ByState[st]), ifc, st)
		}
	}

	rl := c.src.Reloads()
	counter(reloads, rl.OK, "success")
	counter(reloads, rl.Failed, "failure")
	if !rl.LastOK.IsZero() {
		gauge(reloadLastOK, float64(rl.LastOK.UnixNano())/1e9)
	}
	ok := 1.0
	if rl.LastFailed {
		ok = 0
	}
	gauge(reloadLastState, ok)
	c.collectAlerts(ch)
}

// Handler returns the /metrics handler: c plus the Go runtime and process
// collectors, in a registry of its own.
func Handler(c *Collector, version string) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ulvs_build_info", Help: "Build information; the value is always 1.",
		ConstLabels: prometheus.Labels{"version": version},
	}, func() float64 { return 1 }))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
