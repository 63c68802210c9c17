package config

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// CheckKind is the type of a health-check block.
type CheckKind uint8

// The checkers ulvs runs.
const (
	CheckTCP CheckKind = iota + 1
	CheckHTTP
	CheckSSL
	CheckMisc
	CheckUDP
	CheckPing
	CheckDNS
	CheckBFD
)

// String returns the keepalived block name.
func (k CheckKind) String() string {
	switch k {
	case CheckTCP:
		return "TCP_CHECK"
	case CheckHTTP:
		return "HTTP_GET"
	case CheckSSL:
		return "SSL_GET"
	case CheckMisc:
		return "MISC_CHECK"
	case CheckUDP:
		return "UDP_CHECK"
	case CheckPing:
		return "PING_CHECK"
	case CheckDNS:
		return "DNS_CHECK"
	case CheckBFD:
		return "BFD_CHECK"
	}
	return fmt.Sprintf("check(%d)", uint8(k))
}

// keepalived's checker defaults (check_api.c, check_http.c, check_dns.c).
const (
	defaultRetry            = 1
	defaultDelayBeforeRetry = 1 * time.Second
	httpDelayBeforeRetry    = 3 * time.Second
	dnsRetry                = 3
	// maxRetry keeps a typo from disabling failure detection for days.
	maxRetry = 1 << 16
)

// Check is one health-check block of a real server, with the defaults of
// its virtual server, its real server and keepalived applied.
type Check struct {
	Pos  Pos
	Kind CheckKind
	// Target is where the probe goes: connect_ip and connect_port, by
	// default the real server's address and port.
	Target netip.AddrPort
	// Bind is bindto and bind_port; the zero address leaves the source to
	// the kernel.
	Bind netip.AddrPort
	// ConnectTimeout bounds one probe (connect_timeout, 5 s).
	ConnectTimeout time.Duration
	// Retry is how many failed probes in a row are retried, after
	// DelayBeforeRetry, before the server is marked down (retry: 1; 0 for
	// MISC_CHECK, 3 for DNS_CHECK).
	Retry            int
	DelayBeforeRetry time.Duration // 1 s; 3 s for HTTP_GET and SSL_GET; delay_loop for DNS_CHECK
	DelayLoop        time.Duration // interval between checks
	// Warmup is the upper bound of the random delay before the first
	// probe; it spreads checks over time (warmup, default delay_loop).
	Warmup time.Duration
	// Alpha starts the checker in the failed state.
	Alpha          bool
	LogAllFailures bool

	HTTP *HTTPCheck // HTTP_GET and SSL_GET
	Misc *MiscCheck
	UDP  *UDPCheck
	DNS  *DNSCheck
	BFD  *BFDCheck // BFD_CHECK: only Pos, Kind, Alpha and Target (the neighbour) are set besides
}

// HTTPCheck is the HTTP_GET/SSL_GET specific part of a Check.
type HTTPCheck struct {
	URLs []URL
	// Protocol is http_protocol: "1.0" (default), "1.0C" (1.0 with
	// Connection: close) or "1.1".
	Protocol string
	// Virtualhost is the Host header, from the checker, real server or
	// virtual server virtualhost; empty means the target address.
	Virtualhost string
	// EnableSNI sends the server name in the TLS handshake (SSL_GET);
	// SNIName overrides it, defaulting to Virtualhost.
	EnableSNI bool
	SNIName   string
}

// URL is one url block of HTTP_GET/SSL_GET: all of them must pass.
type URL struct {
	Pos  Pos
	Path string
	// Digest is the expected MD5 of the body; nil means not checked.
	Digest []byte
	// StatusCodes are the accepted statuses; 200-299 when empty.
	StatusCodes []StatusRange
	// Virtualhost overrides the checker's for this url.
	Virtualhost string
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// MiscCheck is the MISC_CHECK specific part of a Check.
type MiscCheck struct {
	// Path is the command line (misc_path), split into words without a
	// shell; write /bin/sh -c '...' to get one.
	Path []string
	// Timeout bounds one run (misc_timeout; default delay_loop).
	Timeout time.Duration
	// Dynamic is misc_dynamic: exit status 2..255 means up with weight
	// status-2.
	Dynamic bool
	// User and Group run the script (user; default the script_user).
	User, Group string
}

// UDPCheck is the UDP_CHECK specific part of a Check.
type UDPCheck struct {
	Payload []byte
	// RequireReply is the expected start of the reply; a nil value means
	// any reply or none will do, only an ICMP error fails. ReplyMask has
	// 0xf0/0x0f cleared where the pattern had an X (any nibble).
	RequireReply []byte
	ReplyMask    []byte
	// MinReplyLength and MaxReplyLength bound the reply; 0 = no bound.
	MinReplyLength, MaxReplyLength int
}

// DNSCheck is the DNS_CHECK specific part of a Check.
type DNSCheck struct {
	Type uint16 // query type, default SOA
	Name string // query name, default "."
}

// Script is a notify or quorum script: a command line (run without a
// shell) and optional user and group.
type Script struct {
	Pos         Pos
	Args        []string
	User, Group string
}

// RealHealth is the health-check setup of one real server.
type RealHealth struct {
	Checks     []*Check
	NotifyUp   *Script
	NotifyDown *Script
	// Unsupported are checker blocks keepalived knows but ulvs does not
	// run yet (SMTP_CHECK, FILE_CHECK): accepted, so that the
	// file keeps loading, and reported by the daemon.
	Unsupported []*Node
}

// dnsTypes are the query types keepalived's DNS_CHECK accepts.
var dnsTypes = map[string]uint16{"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}

// checkDefaults are the inherited common keywords (virtual server, then
// real server).
type checkDefaults struct {
	connectTimeout, delayBeforeRetry, delayLoop, warmup time.Duration
	retry                                               int
	retrySet, dbrSet, warmupSet, alpha                  bool
	virtualhost                                         string
	// fwmark: the service has no port of its own; ulvs does not serve
	// fwmark services, so their checkers are kept without a port check.
	fwmark bool
}

// decodeHealth turns the checker Nodes of every real server into typed
// Checks, and reads script_user. It runs once the whole tree is decoded.
func (d *decoder) decodeHealth(cfg *Config) {
	for _, vs := range cfg.VirtualServers {
		for _, rs := range vs.Reals {
			// The virtual and real server level settings are typed by the
			// LVS decoder, the real server's already inheriting the
			// virtual server's (decode.go).
			def := checkDefaults{connectTimeout: defaultConnectTimeout, delayLoop: rs.DelayLoop, retry: -1,
				fwmark: vs.FWMark != 0, alpha: rs.Alpha, virtualhost: rs.Virtualhost}
			if def.delayLoop == 0 {
				def.delayLoop = vs.DelayLoop
			}
			c := rs.Checks
			if c.ConnectTimeout != 0 {
				def.connectTimeout = c.ConnectTimeout
			}
			if c.Retry != 0 {
				def.retry, def.retrySet = int(c.Retry), true
			}
			if c.DelayBeforeRetry != 0 {
				def.delayBeforeRetry, def.dbrSet = c.DelayBeforeRetry, true
			}
			if c.WarmupSet {
				def.warmup, def.warmupSet = c.Warmup, true
			}
			h := &RealHealth{NotifyUp: d.scriptOf(rs, "notify_up", rs.NotifyUp), NotifyDown: d.scriptOf(rs, "notify_down", rs.NotifyDown)}
			for _, n := range rs.Checkers {
				switch n.Keyword {
				case "SMTP_CHECK", "FILE_CHECK":
					h.Unsupported = append(h.Unsupported, n)
					continue
				case "BFD_CHECK":
					if c := d.bfdCheck(n, rs, cfg, h.Checks); c != nil {
						h.Checks = append(h.Checks, c)
					}
					continue
				}
				if c := d.check(n, rs, &def); c != nil {
					h.Checks = append(h.Checks, c)
				}
			}
			rs.Health = h
		}
	}
}

// scriptOf turns a notify_up/notify_down command the LVS decoder kept as
// a string into a Script.
func (d *decoder) scriptOf(rs *RealServer, keyword, cmd string) *Script {
	if cmd == "" {
		return nil
	}
	args, err := SplitCommand(cmd)
	if err != nil || len(args) == 0 || !strings.HasPrefix(args[0], "/") {
		d.errorf(&Node{Pos: rs.Pos, Keyword: keyword}, "write "+keyword+` "/path/to/script args"`,
			"%q is not an absolute path to a script", cmd)
		return nil
	}
	return &Script{Pos: rs.Pos, Args: args}
}

// commonDefaults reads the checker keywords a virtual or real server sets
// for its checkers.
func (d *decoder) commonDefaults(extra []*Node, def *checkDefaults) {
	for _, n := range extra {
		switch n.Keyword {
		case "connect_timeout":
			if v, ok := d.timerArg(n, "connect_timeout 5 (seconds)"); ok {
				def.connectTimeout = v
			}
		case "delay_before_retry":
			if v, ok := d.timerArg(n, "delay_before_retry 1 (seconds)"); ok {
				def.delayBeforeRetry, def.dbrSet = v, true
			}
		case "delay_loop":
			if v, ok := d.timerArg(n, "delay_loop 6 (seconds)"); ok {
				def.delayLoop = v
			}
		case "warmup":
			if v, ok := d.zeroTimerArg(n, "warmup 5 (seconds; 0 starts checks at once)"); ok {
				def.warmup, def.warmupSet = v, true
			}
		case "retry":
			if d.args(n, 1, 1, "retry 1") {
				if v, ok := d.uintArg(n, 0, 0, maxRetry, "retry 1 (0..65536)"); ok {
					def.retry, def.retrySet = int(v), true
				}
			}
		case "alpha":
			if v, ok := d.optionalBool(n); ok {
				def.alpha = v
			}
		case "virtualhost":
			if d.args(n, 1, 1, "virtualhost www.example.com") {
				def.virtualhost = n.Args[0]
			}
		}
	}
}

func (d *decoder) zeroTimerArg(n *Node, usage string) (time.Duration, bool) {
	if !d.args(n, 1, 1, usage) {
		return 0, false
	}
	v, err := parseTimer(n.Args[0])
	if err != nil {
		d.errorf(n, "write "+usage, "%v", err)
		return 0, false
	}
	return v, true
}

// script parses "notify_up|quorum_up "/path args" [user [group]]".
func (d *decoder) script(n *Node) *Script {
	usage := n.Keyword + ` "/path/to/script args" [user [group]]`
	if !d.args(n, 1, 3, usage) {
		return nil
	}
	args, err := SplitCommand(n.Args[0])
	if err != nil || len(args) == 0 {
		d.errorf(n, "write "+usage, "cannot split %q into words: %v", n.Args[0], err)
		return nil
	}
	if !strings.HasPrefix(args[0], "/") {
		d.errorf(n, "write the script's absolute path, e.g. /etc/keepalived/notify.sh", "%q is not an absolute path", args[0])
		return nil
	}
	s := &Script{Pos: n.Pos, Args: args}
	if len(n.Args) > 1 {
		s.User = n.Args[1]
	}
	if len(n.Args) > 2 {
		s.Group = n.Args[2]
	}
	return s
}

// ParseScript parses a quorum_up/quorum_down value (already a single
// string in VirtualServer) into a Script; it returns nil for "".
func ParseScript(pos Pos, line string) (*Script, error) {
	if line == "" {
		return nil, nil
	}
	args, err := SplitCommand(line)
	if err != nil {
		return nil, err
	}
	if len(args) == 0 || !strings.HasPrefix(args[0], "/") {
		return nil, fmt.Errorf("%q does not start with an absolute path", line)
	}
	return &Script{Pos: pos, Args: args}, nil
}

// SplitCommand splits a script line into words as keepalived does:
// whitespace separates words, single and double quotes group them, and a
// backslash escapes the next character. No shell is involved.
func SplitCommand(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// checkState carries a checker block while it is decoded.
type checkState struct {
	c        *Check
	def      checkDefaults
	ip       netip.Addr
	port     uint16
	portSet  bool
	bindIP   netip.Addr
	bindPort uint16
	retrySet bool
	dbrSet   bool
	warmSet  bool
	miscTO   time.Duration
}

var commonCheckKeys = func(t *table[checkState]) *table[checkState] {
	return t.
		add(noBlock, func(d *decoder, n *Node, s *checkState) {
			if d.args(n, 1, 1, "connect_ip 10.0.0.1") {
				a, err := parseAddr(n.Args[0])
				if err != nil {
					d.errorf(n, "write connect_ip 10.0.0.1", "%v", err)
					return
				}
				s.ip = a
			}
		}, "connect_ip").
		add(noBlock, func(d *decoder, n *Node, s *checkState) {
			if d.args(n, 1, 1, "connect_port 80") {
				p, err := parsePort(n.Args[0])
				if err != nil {
					d.errorf(n, "write connect_port 80", "%v", err)
					return
				}
				s.port, s.portSet = p, true
			}
		}, "connect_port").
		add(noBlock, func(d *decoder, n *Node, s *checkState) {
			if d.args(n, 1, 1, "bindto 10.0.0.254") {
				a, err := parseAddr(n.Args[0])
				if err != nil {
					d.errorf(n, "write bindto 10.0.0.254 (a local address)", "%v", err)
					return
				}
				s.bindIP = a
			}
		}, "bindto").
		add(noBlock, func(d *decoder, n *Node, s *checkState) {
			if d.args(n, 1, 1, "bind_port 10000") {
				p, err := parsePort(n.Args[0])
				if err != nil {
					d.errorf(n, "write bind_port 10000", "%v", err)
					return
				}
				s.bindPort = p
			}
		}, "bind_port").
		add(noBlock, func(d *decoder, n *Node, s *checkState) {
			if v, ok := d.timerArg(n, "connect_timeout 5 (seconds)"); ok {
				s.c.ConnectTimeout = v
			}
		}, "connect_timeout").
		add(noBlock, func(d *decoder, n *Node, s *checkState) {
			if d.args(n, 1, 1, n.Keyword+" 1") {
				if v, ok := d.uintArg(n, 0, 0, maxRetry, n.Keyword+" 1 (0..65536)"); ok {
					s.c.Retry, s.retrySet = int(v), true
				}
			}
		}, "retry", "nb_get_retry").
		add(noBlock, func(d *decoder, n *Node, s *checkState) {
			if v, ok := d.timerArg(n, "delay_before_retry 1 (seconds)"); ok {
				s.c.DelayBeforeRetry, s.dbrSet = v, true
			}
		}, "delay_before_retry").
		add(noBlock, func(d *decoder, n *Node, s *checkState) {
			if v, ok := d.timerArg(n, "delay_loop 6 (seconds)"); ok {
				s.c.DelayLoop = v
			}
		}, "delay_loop").
		add(noBlock, func(d *decoder, n *Node, s *checkState) {
			if v, ok := d.zeroTimerArg(n, "warmup 5 (seconds; 0 starts at once)"); ok {
				s.c.Warmup, s.warmSet = v, true
			}
		}, "warmup").
		add(noBlock, func(d *decoder, n *Node, s *checkState) {
			if v, ok := d.optionalBool(n); ok {
				s.c.Alpha = v
			}
		}, "alpha").
		add(noBlock, func(d *decoder, n *Node, s *checkState) {
			if v, ok := d.optionalBool(n); ok {
				s.c.LogAllFailures = v
			}
		}, "log_all_failures").
		known(noBlock, "bind_if", "fwmark")
}

var tcpCheckTable = commonCheckKeys(newTable("TCP_CHECK", func(*checkState, *Node) {}))

var pingCheckTable = commonCheckKeys(newTable("PING_CHECK", func(*checkState, *Node) {}))

var httpCheckTable = commonCheckKeys(newTable("HTTP_GET", func(*checkState, *Node) {})).
	add(needBlock, func(d *decoder, n *Node, s *checkState) {
		u := URL{Pos: n.Pos}
		decodeBlock(d, urlTable, n, &u)
		if u.Path == "" {
			d.errorf(n, "add path /health inside the url block", "url block without a path")
			return
		}
		s.c.HTTP.URLs = append(s.c.HTTP.URLs, u)
	}, "url").
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		if !d.args(n, 1, 1, "http_protocol 1.0|1.0C|1.1") {
			return
		}
		switch v := n.Args[0]; v {
		case "1.0", "1.1":
			s.c.HTTP.Protocol = v
		case "1.0C", "1.0c":
			s.c.HTTP.Protocol = "1.0C"
		default:
			d.errorf(n, "write http_protocol 1.0, 1.0C or 1.1", "unknown HTTP version %q", v)
		}
	}, "http_protocol").
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		if d.args(n, 1, 1, "virtualhost www.example.com") {
			s.c.HTTP.Virtualhost = n.Args[0]
		}
	}, "virtualhost").
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		if v, ok := d.optionalBool(n); ok {
			s.c.HTTP.EnableSNI = v
		}
	}, "enable_sni").
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		if d.args(n, 1, 1, "sni_name www.example.com") {
			s.c.HTTP.SNIName = n.Args[0]
			s.c.HTTP.EnableSNI = true
		}
	}, "sni_name").
	known(noBlock, "fast_recovery", "tls_compliant")

var urlTable = newTable("url", func(*URL, *Node) {}).
	add(noBlock, func(d *decoder, n *Node, u *URL) {
		if d.args(n, 1, 1, "path /health") {
			if !strings.HasPrefix(n.Args[0], "/") {
				d.errorf(n, "write path /health (starting with /)", "%q is not an absolute URL path", n.Args[0])
				return
			}
			u.Path = n.Args[0]
		}
	}, "path").
	add(noBlock, func(d *decoder, n *Node, u *URL) {
		if !d.args(n, 1, 1, "digest 9b3a0c85a887a256d6939da88aabd8cd (MD5 of the body, 32 hex digits)") {
			return
		}
		b, err := hex.DecodeString(n.Args[0])
		if err != nil || len(b) != 16 {
			d.errorf(n, "write the body's MD5 as 32 hex digits (genhash or md5sum prints it)", "%q is not an MD5 digest", n.Args[0])
			return
		}
		u.Digest = b
	}, "digest").
	add(noBlock, func(d *decoder, n *Node, u *URL) {
		const usage = "status_code 200 or status_code 200-299 400 503 (100..599)"
		if !d.args(n, 1, -1, usage) {
			return
		}
		for _, a := range n.Args {
			lo, hi, isRange := strings.Cut(a, "-")
			if !isRange {
				hi = lo
			}
			l, err1 := parseUint(lo, 100, 599)
			h, err2 := parseUint(hi, 100, 599)
			if err1 != nil || err2 != nil || l > h {
				d.errorf(n, "write "+usage, "%q is not a status code or range", a)
				return
			}
			u.StatusCodes = append(u.StatusCodes, StatusRange{int(l), int(h)})
		}
	}, "status_code").
	add(noBlock, func(d *decoder, n *Node, u *URL) {
		if d.args(n, 1, 1, "virtualhost www.example.com") {
			u.Virtualhost = n.Args[0]
		}
	}, "virtualhost").
	known(noBlock, "regex", "regex_no_match", "regex_options", "regex_stack", "regex_min_offset",
		"regex_max_offset", "regex_use_after")

var miscCheckTable = commonCheckKeys(newTable("MISC_CHECK", func(*checkState, *Node) {})).
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		const usage = `misc_path "/path/to/script args"`
		if !d.args(n, 1, 1, usage) {
			return
		}
		args, err := SplitCommand(n.Args[0])
		if err != nil || len(args) == 0 {
			d.errorf(n, "write "+usage, "cannot split %q into words: %v", n.Args[0], err)
			return
		}
		if !strings.HasPrefix(args[0], "/") {
			d.errorf(n, "write the program's absolute path; for shell syntax write /bin/sh -c '...'", "%q is not an absolute path", args[0])
			return
		}
		s.c.Misc.Path = args
	}, "misc_path").
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		if v, ok := d.timerArg(n, "misc_timeout 5 (seconds)"); ok {
			s.miscTO = v
		}
	}, "misc_timeout").
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		if v, ok := d.optionalBool(n); ok {
			s.c.Misc.Dynamic = v
		}
	}, "misc_dynamic").
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		if d.args(n, 1, 2, "user USER [GROUP]") {
			s.c.Misc.User = n.Args[0]
			if len(n.Args) > 1 {
				s.c.Misc.Group = n.Args[1]
			}
		}
	}, "user")

var udpCheckTable = commonCheckKeys(newTable("UDP_CHECK", func(*checkState, *Node) {})).
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		if !d.args(n, 1, 1, "payload 0a0b0c (hex)") {
			return
		}
		b, err := hex.DecodeString(n.Args[0])
		if err != nil {
			d.errorf(n, "write the payload as hex digits, e.g. payload 68656c6c6f", "%q is not hex", n.Args[0])
			return
		}
		s.c.UDP.Payload = b
	}, "payload").
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		if !d.args(n, 1, 1, "require_reply 0a0bXc (hex, X matches any digit)") {
			return
		}
		v := n.Args[0]
		if len(v)%2 != 0 || v == "" {
			d.errorf(n, "write an even number of hex digits; X matches any digit", "%q is not a hex pattern", v)
			return
		}
		want, mask := make([]byte, len(v)/2), make([]byte, len(v)/2)
		for i := 0; i < len(v); i++ {
			c := v[i]
			var nib byte
			m := byte(0xf)
			switch {
			case c == 'X' || c == 'x':
				m = 0
			case c >= '0' && c <= '9':
				nib = c - '0'
			case c >= 'a' && c <= 'f':
				nib = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				nib = c - 'A' + 10
			default:
				d.errorf(n, "write hex digits, X for any digit", "%q is not a hex pattern", v)
				return
			}
			shift := 4 * (1 - i%2)
			want[i/2] |= nib << shift
			mask[i/2] |= m << shift
		}
		s.c.UDP.RequireReply, s.c.UDP.ReplyMask = want, mask
	}, "require_reply").
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		if d.args(n, 1, 1, n.Keyword+" N (bytes)") {
			if v, ok := d.uintArg(n, 0, 0, 65535, n.Keyword+" N (0..65535 bytes)"); ok {
				if n.Keyword == "min_reply_length" {
					s.c.UDP.MinReplyLength = int(v)
				} else {
					s.c.UDP.MaxReplyLength = int(v)
				}
			}
		}
	}, "min_reply_length", "max_reply_length")

var dnsCheckTable = commonCheckKeys(newTable("DNS_CHECK", func(*checkState, *Node) {})).
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		if !d.args(n, 1, 1, "type SOA (A NS CNAME SOA MX TXT AAAA)") {
			return
		}
		t, ok := dnsTypes[strings.ToUpper(n.Args[0])]
		if !ok {
			d.errorf(n, "write one of A NS CNAME SOA MX TXT AAAA", "unknown DNS query type %q", n.Args[0])
			return
		}
		s.c.DNS.Type = t
	}, "type").
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		if !d.args(n, 1, 1, "name example.com") {
			return
		}
		name := n.Args[0]
		if len(name) > 253 || strings.Contains(name, "..") {
			d.errorf(n, "write a domain name such as example.com", "%q is not a domain name", name)
			return
		}
		for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
			if len(label) > 63 {
				d.errorf(n, "shorten the label to 63 characters", "%q has a label longer than 63 characters", name)
				return
			}
		}
		s.c.DNS.Name = name
	}, "name")

// check decodes one checker block; nil when it has errors or ulvs does
// not run that kind (a warning says so).
func (d *decoder) check(n *Node, rs *RealServer, def *checkDefaults) *Check {
	c := &Check{Pos: n.Pos, ConnectTimeout: def.connectTimeout, Retry: defaultRetry,
		DelayBeforeRetry: defaultDelayBeforeRetry, DelayLoop: def.delayLoop, Alpha: def.alpha}
	s := &checkState{c: c, def: *def}
	var t *table[checkState]
	switch n.Keyword {
	case "TCP_CHECK":
		c.Kind, t = CheckTCP, tcpCheckTable
	case "HTTP_GET", "SSL_GET":
		c.Kind, t = CheckHTTP, httpCheckTable
		if n.Keyword == "SSL_GET" {
			c.Kind = CheckSSL
		}
		c.DelayBeforeRetry = httpDelayBeforeRetry
		c.HTTP = &HTTPCheck{Protocol: "1.0", Virtualhost: def.virtualhost}
	case "MISC_CHECK":
		c.Kind, t = CheckMisc, miscCheckTable
		c.Retry = 0
		c.Misc = &MiscCheck{}
	case "UDP_CHECK":
		c.Kind, t = CheckUDP, udpCheckTable
		c.UDP = &UDPCheck{}
	case "PING_CHECK":
		c.Kind, t = CheckPing, pingCheckTable
	case "DNS_CHECK":
		c.Kind, t = CheckDNS, dnsCheckTable
		c.Retry = dnsRetry
		c.DNS = &DNSCheck{Type: dnsTypes["SOA"], Name: "."}
	default:
		return nil // listed in RealHealth.Unsupported; the daemon says so
	}
	if def.retrySet {
		c.Retry = def.retry
	}
	if def.dbrSet {
		c.DelayBeforeRetry = def.delayBeforeRetry
	}
	errsBefore := len(d.errs)
	decodeBlock(d, t, n, s)
	if d.strict && len(d.errs) > errsBefore {
		return nil // the load fails: spare the follow-on messages
	}
	if c.Kind == CheckDNS && !s.dbrSet && !def.dbrSet {
		c.DelayBeforeRetry = c.DelayLoop
	}
	switch {
	case s.warmSet:
	case def.warmupSet:
		c.Warmup = def.warmup
	default:
		c.Warmup = c.DelayLoop
	}
	ip := rs.Addr
	if s.ip.IsValid() {
		ip = s.ip
	}
	port := rs.Port
	if s.portSet {
		port = s.port
	}
	c.Target = netip.AddrPortFrom(ip, port)
	if s.bindIP.IsValid() || s.bindPort != 0 {
		if s.bindIP.IsValid() && s.bindIP.Is4() != ip.Is4() {
			d.errorf(n, "use a bindto address of the same family as the target", "bindto %v and target %v differ in address family", s.bindIP, ip)
			return nil
		}
		c.Bind = netip.AddrPortFrom(s.bindIP, s.bindPort)
	}
	if c.Kind != CheckPing && c.Kind != CheckMisc && port == 0 && !def.fwmark {
		// keepalived accepts this and its checker can never succeed;
		// ulvs keeps the file loading and leaves the server unchecked.
		d.warnf(n, "%s has no port to connect to (the real server has none); checker ignored: add connect_port N", n.Keyword)
		return nil
	}
	switch c.Kind {
	case CheckHTTP, CheckSSL:
		if len(c.HTTP.URLs) == 0 {
			d.errorf(n, "add url { path /health } to the checker", "%s needs at least one url block", n.Keyword)
			return nil
		}
		if c.Kind == CheckHTTP && c.HTTP.EnableSNI {
			d.warnf(n, "enable_sni/sni_name only apply to SSL_GET; ignored")
		}
	case CheckMisc:
		if len(c.Misc.Path) == 0 {
			d.errorf(n, `add misc_path "/path/to/script"`, "MISC_CHECK needs misc_path")
			return nil
		}
		c.Misc.Timeout = s.miscTO
		if c.Misc.Timeout == 0 {
			c.Misc.Timeout = c.DelayLoop
		}
	case CheckUDP:
		if u := c.UDP; u.MaxReplyLength != 0 && u.MinReplyLength > u.MaxReplyLength {
			d.errorf(n, "make min_reply_length at most max_reply_length", "min_reply_length %d is above max_reply_length %d",
				u.MinReplyLength, u.MaxReplyLength)
			return nil
		}
	}
	return c
}
