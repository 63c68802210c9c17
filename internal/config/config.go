package config

import (
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ulvs/ulvs/balancer"
)

// Config is a loaded keepalived.conf: the parts ulvs interprets as typed
// values with keepalived's defaults applied, and the rest kept as Nodes.
type Config struct {
	Global         GlobalDefs
	VirtualServers []*VirtualServer
	// Groups are the virtual_server_group blocks, in file order.
	Groups []*VirtualServerGroup
	ULVS   ULVS
	// VRRP holds the vrrp_instance, vrrp_script and vrrp_sync_group blocks
	// (vrrp.go).
	VRRP VRRP
	// TrackFiles are the track_file blocks (trackfile.go).
	TrackFiles []*TrackFile
	// BFD are the bfd_instance blocks, in file order (bfd.go).
	BFD []*BFDInstance
	// Static holds static_ipaddress, static_routes and static_rules
	// (kernelnet.go).
	Static StaticNet

	// Blocks are the top-level statements ulvs recognises but does not
	// interpret yet, in file order: vrrp_instance, vrrp_script,
	// vrrp_sync_group, garp_group, SSL, static_*,
	// track_* and keepalived's top-level process settings.
	Blocks []*Node

	vrrpStates []*vrrpState // while decoding
}

// GlobalDefs is the global_defs block.
type GlobalDefs struct {
	Pos         Pos
	RouterID    string
	LVSTimeouts Timeouts
	// E-mail settings of smtp_alert (alert.go).
	NotificationEmail     []string
	NotificationEmailFrom string
	SMTPServer            string // "HOST [PORT]"
	SMTPHeloName          string
	SMTPConnectTimeout    time.Duration // 30 s
	Alerts                AlertDefaults
	// ScriptUser ("USER [GROUP]") and EnableScriptSecurity apply to the
	// scripts of checkers and VRRP.
	ScriptUser           string
	EnableScriptSecurity bool
	// ScriptGroup is the group part of script_user; ScriptUser is then
	// the user alone ("" = keepalived_script if that user exists, else
	// the daemon's own user).
	ScriptGroup string
	// LVSFlush and LVSFlushOnStop are always honoured: ulvs's table starts
	// empty and goes away with the process.
	LVSFlush, LVSFlushOnStop bool
	// VRRP holds the vrrp_* defaults of every vrrp_instance.
	VRRP VRRPDefaults
	// LVSSyncDaemon is the lvs_sync_daemon line, nil without one.
	LVSSyncDaemon *LVSSyncDaemon
	// Extra holds the other global_defs keywords keepalived knows, verbatim:
	// VRRP-stage ones without a warning, ignored ones with one.
	Extra []*Node
}

// Timeouts are IPVS's connection timeouts from global_defs' lvs_timeouts
// (ipvsadm --set tcp tcpfin udp). Zero means "leave the default".
type Timeouts struct {
	TCP    time.Duration // established TCP connections
	TCPFin time.Duration // TCP connections after a FIN
	UDP    time.Duration // UDP flows
}

// TunnelType is the encapsulation of a TUN real server (lvs_method TUN
// type ...).
type TunnelType uint8

// The tunnel types keepalived accepts. The zero value is IPIP, the default.
const (
	TunnelIPIP TunnelType = iota
	TunnelGUE
	TunnelGRE
)

// String returns the keepalived spelling.
func (t TunnelType) String() string {
	switch t {
	case TunnelGUE:
		return "gue"
	case TunnelGRE:
		return "gre"
	}
	return "ipip"
}

// TunnelChecksum is the checksum option of a GUE or GRE tunnel.
type TunnelChecksum uint8

// The checksum options; the zero value is nocsum, keepalived's default.
const (
	TunnelNoCsum TunnelChecksum = iota
	TunnelCsum
	TunnelRemCsum
)

// String returns the keepalived spelling.
func (c TunnelChecksum) String() string {
	switch c {
	case TunnelCsum:
		return "csum"
	case TunnelRemCsum:
		return "remcsum"
	}
	return "nocsum"
}

// Tunnel holds the options after lvs_method TUN.
type Tunnel struct {
	Type     TunnelType
	Port     uint16 // GUE destination port; zero for IPIP and GRE
	Checksum TunnelChecksum
}

// VirtualServer is one virtual_server block with keepalived's defaults and
// corrections applied (see docs/config.md).
type VirtualServer struct {
	Pos Pos
	// Exactly one of (Addr), FWMark and Group identifies the service, as
	// in "virtual_server IP [PORT]", "virtual_server fwmark N" and
	// "virtual_server group NAME".
	Addr   netip.Addr
	Port   uint16 // 0 only for a persistent service (all ports)
	FWMark uint32
	Group  string

	Protocol  balancer.Protocol // UDP when omitted, as in keepalived; 0 for fwmark and group services
	Scheduler string            // lb_algo / lvs_sched; wlc when omitted
	Method    balancer.Method   // lb_kind / lvs_method; NAT when omitted
	Tunnel    Tunnel

	Persistence time.Duration // persistence_timeout; 0 = not persistent; bare keyword = 360 s
	// PersistenceMaskBits is persistence_granularity as a prefix length;
	// 0 when not set, meaning one client address.
	PersistenceMaskBits int
	DelayLoop           time.Duration // checker interval; 60 s when omitted
	Weight              uint32        // default real-server weight (virtual_server weight); 1
	InhibitOnFailure    bool
	Flags               balancer.ServiceFlags

	// Quorum is the total weight of healthy real servers the service
	// needs (quorum, default 1); Hysteresis is the margin around it
	// (hysteresis, default 0). QuorumUp and QuorumDown are the scripts
	// run when quorum is gained or lost. Parsed and validated; the
	// health-check stage gives them behaviour.
	Quorum     uint32
	Hysteresis uint32
	QuorumUp   string
	QuorumDown string
	// Alpha starts every real server as failed until its first check
	// passes; Omega runs quorum_down and clears the service on shutdown.
	Alpha, Omega bool
	// Sorry is the sorry_server, nil when unset: it replaces all real
	// servers while quorum is lost.
	Sorry *SorryServer
	// SorryInhibit keeps the sorry server in the pool at weight 0
	// (sorry_server_inhibit).
	SorryInhibit bool

	// Family is ip_family: 4 or 6, or 0 when not set (the family of the
	// address, or of the real servers for fwmark services).
	Family int
	// HASuspend is ha_suspend: checkers pause while the VIP is not
	// owned (given behaviour by VRRP).
	HASuspend bool
	// Virtualhost is the default Host header of the HTTP checkers.
	Virtualhost string
	// Checks holds the checker defaults the real servers inherit.
	Checks CheckDefaults

	Reals []*RealServer
	// SMTPAlert is smtp_alert (alert.go).
	SMTPAlert Switch
	// Extra holds the virtual_server keywords ulvs accepts but ignores
	// (each reported with a warning), verbatim.
	Extra []*Node

	protoSet, ops bool
	granularityV6 bool // PersistenceMaskBits is an IPv6 prefix length
}

// CheckDefaults are the health-check settings a virtual_server passes to
// its real servers and a real server to its checkers (keepalived's
// connect_timeout, retry, delay_before_retry, warmup). Zero values mean
// "unset": the checker's own default applies.
type CheckDefaults struct {
	ConnectTimeout   time.Duration // connect_timeout; 5 s in keepalived when nothing sets it
	Retry            uint32        // retry; the checker's default (1, MISC_CHECK 0, DNS_CHECK 3) when 0
	DelayBeforeRetry time.Duration // delay_before_retry; the checker's default when 0
	// Warmup is the largest random delay before the first check; when
	// WarmupSet is false it is the checker's delay_loop.
	Warmup    time.Duration
	WarmupSet bool
}

// inherit fills c's unset fields from parent.
func (c *CheckDefaults) inherit(parent CheckDefaults) {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = parent.ConnectTimeout
	}
	if c.Retry == 0 {
		c.Retry = parent.Retry
	}
	if c.DelayBeforeRetry == 0 {
		c.DelayBeforeRetry = parent.DelayBeforeRetry
	}
	if !c.WarmupSet {
		c.Warmup, c.WarmupSet = parent.Warmup, parent.WarmupSet
	}
}

// SorryServer is a virtual server's sorry_server line, with
// sorry_server_lvs_method applied (default: the service's method).
type SorryServer struct {
	Pos    Pos
	Addr   netip.Addr
	Port   uint16
	Method balancer.Method
	Tunnel Tunnel
}

// RealServer is one real_server block with its virtual server's defaults
// applied.
type RealServer struct {
	Pos              Pos
	Addr             netip.Addr
	Port             uint16
	Method           balancer.Method
	Tunnel           Tunnel
	Weight           uint32
	UpperThreshold   uint32 // uthreshold; 0 = unset
	LowerThreshold   uint32 // lthreshold; 0 = unset
	InhibitOnFailure bool
	// Alpha starts the server as failed until its checkers pass; the
	// virtual server's alpha when not set.
	Alpha bool
	// NotifyUp and NotifyDown are the scripts run when the server comes
	// up or goes down ("CMD ARGS", verbatim).
	NotifyUp, NotifyDown string
	// DelayLoop is the checkers' interval; the virtual server's when unset.
	DelayLoop time.Duration
	// Virtualhost is the HTTP checkers' Host header; the virtual server's
	// when unset.
	Virtualhost string
	// Checks are the checker defaults, inherited from the virtual server
	// field by field.
	Checks CheckDefaults
	// Checkers are the health-check blocks (TCP_CHECK, HTTP_GET, ...) in
	// file order, uninterpreted.
	Checkers []*Node
	// Health is the typed form of Checkers and of notify_up/notify_down.
	Health *RealHealth
	// SMTPAlert is smtp_alert (alert.go).
	SMTPAlert Switch
	// Extra holds the real_server keywords ulvs accepts but ignores (each
	// reported with a warning), verbatim.
	Extra []*Node

	methodSet, weightSet, inhibitSet, portSet, alphaSet bool
}

// IOMode selects how ulvs moves frames.
type IOMode uint8

// The IO modes. The zero value is IORing.
const (
	IORing  IOMode = iota // AF_PACKET TPACKET_V3 rings
	IOPlain               // plain AF_PACKET socket reads and writes
)

// String returns the config spelling.
func (m IOMode) String() string {
	if m == IOPlain {
		return "plain"
	}
	return "ring"
}

// DefaultAdminSocket is the admin socket path when the ulvs block does not
// set admin_socket.
const DefaultAdminSocket = "/run/ulvs.sock"

// ULVS is the ulvs-only block, a top-level block keepalived does not know
// (keepalived logs it as unknown and runs without it):
//
//	ulvs {
//	    interface_clients eth0        # client-facing (VIP) interface
//	    interface_reals   eth1        # real-server-facing interface
//	    workers           2           # packet workers; default one per CPU
//	    admin_socket      /run/ulvs.sock
//	    io                ring        # ring (TPACKET_V3) or plain
//	    metrics_listen    127.0.0.1:9117  # Prometheus /metrics; off when unset
//	    expire_nodest_conn on         # drop connections of removed real servers
//	    sloppy_tcp         off        # schedule TCP from any non-RST segment (IPVS sloppy_tcp)
//	    max_conns          1048576    # connection table capacity
//	    tx_ring_frames     1024       # TX ring slots per socket
//	    tx_zero_copy       off        # send frames as TX ring pages
//	}
//
// Empty interfaces mean "derive from the routing table"; an empty
// InterfaceReals means the same interface as InterfaceClients.
type ULVS struct {
	Pos              Pos
	InterfaceClients string
	InterfaceReals   string
	Workers          int // 0 = one per CPU
	AdminSocket      string
	IO               IOMode
	// MetricsListen is the host:port of the /metrics HTTP listener; empty
	// means no listener.
	MetricsListen string
	// KeepNodestConn is "expire_nodest_conn off": connections of a removed
	// real server stay in the table (their packets are dropped) until they
	// time out, instead of being removed at once. The default (false) is
	// IPVS's expire_nodest_conn=1 behaviour.
	KeepNodestConn bool
	// MaxConns is the connection table's capacity (connections plus
	// persistence templates); 0 means 1,048,576. The table is allocated
	// in full at start-up, about 53 bytes per entry.
	MaxConns int
	// TxRingFrames is the number of slots of each AF_PACKET TX ring; 0
	// means afpacket.DefaultTxFrames (1024). More absorb a NIC's slower
	// TX completions at high rates; fewer stay in the CPU caches.
	TxRingFrames int
	// TxZeroCopy sends frames as pages of the TX ring instead of copying
	// them into the kernel's buffers (afpacket.Config.NoVnetHdr). Copying
	// is the default: it measured faster on veth (docs/benchmarks.md);
	// a physical NIC may do better without the copy.
	TxZeroCopy bool
	// SloppyTCP is IPVS's sloppy_tcp: a TCP segment of no known
	// connection is scheduled even without SYN (never with RST), so that
	// a director taking over a VIP (VRRP failover) picks up connections
	// another director started. Off by default, as in IPVS.
	SloppyTCP bool
	// BGP is the bgp block (bgp.go); nil when there is none.
	BGP *BGP
}

// Options control Load and Parse.
type Options struct {
	// Strict turns every warning into an error, like keepalived's
	// --config-test exit status.
	Strict bool
	// ConfigID selects "@id" conditional lines (keepalived -i). Empty
	// means the host name up to its first dot, keepalived's default.
	ConfigID string
	// FS is where the main file and includes are read from, with absolute
	// paths taken relative to its root. Nil means the operating system's
	// file system.
	FS fs.FS
}

// Load reads the keepalived.conf at path and everything it includes.
//
// It returns the configuration and its warnings, or an error; err is an
// ErrorList naming every problem with file, line and keyword. With
// opts.Strict warnings are returned as errors instead.
func Load(path string, opts Options) (*Config, []Warning, error) {
	abs, err := absPath(path, opts.FS)
	if err != nil {
		return nil, nil, ErrorList{{Pos: Pos{File: path}, Msg: err.Error()}}
	}
	r := newReader(opts)
	data, err := r.readFile(abs, Pos{File: abs})
	if err != nil {
		if e, ok := err.(*Error); ok {
			e.Keyword = ""
		}
		return nil, nil, asList(err)
	}
	return r.parse(abs, data, opts)
}

// Parse parses data as the keepalived.conf named name (used in messages
// and as the base directory of relative includes, which are read from
// opts.FS or the operating system).
func Parse(name string, data []byte, opts Options) (*Config, []Warning, error) {
	abs, err := absPath(name, opts.FS)
	if err != nil {
		return nil, nil, ErrorList{{Pos: Pos{File: name}, Msg: err.Error()}}
	}
	r := newReader(opts)
	r.files++
	return r.parse(abs, data, opts)
}

func absPath(p string, fsys fs.FS) (string, error) {
	if fsys == nil && !filepath.IsAbs(p) {
		a, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		p = a
	}
	p = filepath.ToSlash(p)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return path.Clean(p), nil
}

func newReader(opts Options) *reader {
	fsys := opts.FS
	if fsys == nil {
		fsys = os.DirFS("/")
	}
	id := opts.ConfigID
	if id == "" {
		if h, err := os.Hostname(); err == nil {
			id, _, _ = strings.Cut(h, ".")
		}
	}
	return &reader{fsys: fsys, configID: id, defs: defs{}}
}

func (r *reader) parse(abs string, data []byte, opts Options) (*Config, []Warning, error) {
	var warns []Warning
	r.warn = func(w Warning) { warns = append(warns, w) }
	if err := r.addFile(abs, data); err != nil {
		return nil, nil, asList(err)
	}
	root, err := buildTree(r.out, r.warn)
	if err != nil {
		return nil, nil, asList(err)
	}
	d := &decoder{warns: warns, strict: opts.Strict}
	cfg := d.decodeRoot(root)
	if !opts.Strict {
		d.lenient()
	}
	if opts.Strict {
		for _, w := range d.warns {
			d.errs = append(d.errs, &Error{Pos: w.Pos, Keyword: w.Keyword, Msg: w.Msg, Hint: "strict mode: fix or remove this line"})
		}
		d.warns = nil
	}
	if len(d.errs) > 0 {
		return nil, d.warns, d.errs
	}
	return cfg, d.warns, nil
}

func asList(err error) error {
	if e, ok := err.(*Error); ok {
		return ErrorList{e}
	}
	return err
}
