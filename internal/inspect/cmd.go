package inspect

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/forward"
	"github.com/ulvs/ulvs/internal/config"
)

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// Command is `ulvs inspect`: args are its flags and packet descriptions;
// the report goes to out.
func Command(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, `usage: ulvs inspect [flags] [PACKET[; PACKET...]]

Runs packets through the ulvs data plane (parser, balancer, NAT/DR/TUN
rewriters) and shows the decision and every changed field and byte.

PACKET is e.g. 'tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S len 100',
'udp 10.0.1.2:5000 > 10.0.1.100:53 len 40', 'icmp 10.0.1.2 > 10.0.1.100';
keywords: flags, len, ttl, nodf, type, code, mtu, quote PACKET.
Packets from a real server's address arrive on the real-server side.

flags:
`)
		fs.PrintDefaults()
	}
	var (
		reals multiFlag
		o     Options
	)
	cfgPath := fs.String("f", "", "keepalived.conf with the virtual servers (instead of --real)")
	fs.Var(&reals, "real", "real server ADDR:PORT[=WEIGHT] of the one service the first packet addresses (repeat for more)")
	sched := fs.String("sched", "wlc", "scheduler of the --real service")
	mode := fs.String("mode", "", "nat, dr, tun, or all (side by side); default: the config's methods (nat with --real)")
	read := fs.String("r", "", "read packets from a pcap or pcapng file (Ethernet)")
	jsonOut := fs.Bool("json", false, "print JSON instead of text")
	pcapOut := fs.String("out", "", "also write the frames before and after, with comments, to this pcapng file")
	color := fs.String("color", "auto", "colour the changes: auto (on a terminal), always or never")
	noHex := fs.Bool("no-hex", false, "leave the hex dumps out")
	fs.IntVar(&o.MTU, "mtu", 1500, "MTU of the real-server side (TUN needs 20 bytes of it)")
	dip := fs.String("director-ip", "", "the director's address on the real-server side, the TUN outer source (default: the first real server's /24, host 1)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var err error
	if o.Modes, err = ParseMode(*mode); err != nil {
		return err
	}
	if *dip != "" {
		if o.RealsAddr, err = netip.ParseAddr(*dip); err != nil {
			return fmt.Errorf("--director-ip %q: give an IPv4 address", *dip)
		}
	}

	// The inputs: described packets or a capture.
	var specs []*Spec
	var inputs []Input
	if desc := strings.TrimSpace(strings.Join(fs.Args(), " ")); desc != "" {
		if specs, err = ParseSpecs(desc); err != nil {
			return err
		}
	}
	if *read != "" {
		if inputs, err = ReadCapture(*read); err != nil {
			return err
		}
	}
	if len(specs) == 0 && len(inputs) == 0 {
		fs.Usage()
		return errors.New("nothing to inspect: describe a packet or read a capture with -r")
	}

	// The services: from the config, or one built from --real.
	switch {
	case *cfgPath != "" && len(reals) > 0:
		return errors.New("give either -f or --real, not both")
	case *cfgPath != "":
		cfg, _, err := config.Load(*cfgPath, config.Options{})
		if err != nil {
			return err
		}
		if o.Services, err = cfg.Services(); err != nil {
			return err
		}
	case len(reals) > 0:
		var rcs []balancer.RealConfig
		for _, r := range reals {
			rc, err := ParseReal(r)
			if err != nil {
				return err
			}
			rcs = append(rcs, rc)
		}
		proto, vip, err := firstDestination(specs, inputs)
		if err != nil {
			return err
		}
		m := balancer.NAT
		if len(o.Modes) == 1 {
			m = o.Modes[0]
		}
		o.Services = ServiceFor(proto, vip, rcs, m, *sched)
	default:
		return errors.New("no virtual service: give a keepalived.conf with -f, or real servers with --real ADDR:PORT")
	}
	e, err := New(o)
	if err != nil {
		return err
	}
	for _, sp := range specs {
		fr, err := e.Frame(sp)
		if err != nil {
			return err
		}
		inputs = append(inputs, Input{Frame: fr})
	}

	var pw *PcapngWriter
	if *pcapOut != "" {
		f, err := os.Create(*pcapOut)
		if err != nil {
			return err
		}
		defer f.Close()
		if pw, err = NewPcapngWriter(f); err != nil {
			return err
		}
	}
	p := &Printer{W: out, Color: UseColor(*color, out), NoHex: *noHex}
	var all []Rewrite
	for i, in := range inputs {
		rws := e.Inspect(in)
		if pw != nil {
			if err := pw.WriteRewrites(rws); err != nil {
				return fmt.Errorf("writing %s: %w", *pcapOut, err)
			}
		}
		if *jsonOut {
			all = append(all, rws...)
			continue
		}
		if i > 0 {
			fmt.Fprintln(out)
		}
		p.Packet(rws)
	}
	if *jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			return err
		}
	}
	if pw != nil {
		if err := pw.Flush(); err != nil {
			return fmt.Errorf("writing %s: %w", *pcapOut, err)
		}
	}
	return nil
}

// UseColor decides --color auto: colour only on a terminal, and never
// when NO_COLOR is set.
func UseColor(mode string, out io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := out.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// firstDestination is the service a --real inspection builds: the
// protocol, address and port the first packet is sent to.
func firstDestination(specs []*Spec, inputs []Input) (balancer.Protocol, netip.AddrPort, error) {
	if len(specs) > 0 {
		sp := specs[0]
		switch sp.Proto {
		case "tcp":
			return balancer.TCP, sp.Dst, nil
		case "udp":
			return balancer.UDP, sp.Dst, nil
		}
		return 0, netip.AddrPort{}, errors.New("with --real, the first packet must be TCP or UDP to a VIP:PORT (it names the service); use -f for anything else")
	}
	var p forward.Parsed
	for _, in := range inputs {
		if p.Decode(append([]byte(nil), in.Frame...)) == forward.DropNone && p.HasPorts {
			return balancer.Protocol(p.Proto), netip.AddrPortFrom(netip.AddrFrom4(p.Dst), p.DstPort), nil
		}
	}
	return 0, netip.AddrPort{}, errors.New("no TCP or UDP packet in the capture names a service; use -f")
}

// ReadCapture reads the Ethernet frames of a pcap or pcapng file.
func ReadCapture(path string) ([]Input, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Input
	if len(data) >= 4 && bytes.Equal(data[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for {
			d, ci, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			if ci.InterfaceIndex < r.NInterfaces() {
				if ifc, _ := r.Interface(ci.InterfaceIndex); ifc.LinkType != layers.LinkTypeEthernet {
					return nil, fmt.Errorf("%s: interface %d is %v; inspect reads Ethernet captures", path, ci.InterfaceIndex, ifc.LinkType)
				}
			}
			out = append(out, Input{Frame: d, Time: ci.Timestamp})
		}
		return out, nil
	}
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: not a pcap or pcapng file: %w", path, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("%s: link type %v; inspect reads Ethernet captures (capture with tcpdump -i IFACE, not -i any)", path, r.LinkType())
	}
	for {
		d, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, Input{Frame: d, Time: ci.Timestamp})
	}
	return out, nil
}
