package inspect

import (
	"bytes"
	"encoding/json"
	"errors"
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

// Request is one `ulvs inspect` run, as cmd/ulvs parses it from flags.
type Request struct {
	ConfigPath string   // -f: keepalived.conf with the virtual servers
	Reals      []string // --real ADDR:PORT[=WEIGHT], instead of -f
	Sched      string   // --sched: the scheduler of the --real service
	Mode       string   // --mode: nat, dr, tun, all, or "" for the config's methods
	Read       string   // -r: a pcap or pcapng file of packets to inspect
	Packets    string   // packet descriptions, separated by ';'
	JSON       bool     // --json
	PcapOut    string   // --out: a pcapng file of the frames before and after
	Color      string   // --color: auto, always or never
	NoHex      bool     // --no-hex
	MTU        int      // --mtu of the real-server side
	DirectorIP string   // --director-ip: the TUN outer source
}

// ErrNothingToInspect is Run's answer to a request with neither packet
// descriptions nor a capture.
var ErrNothingToInspect = errors.New("nothing to inspect: describe a packet or read a capture with -r")

// Run is `ulvs inspect`: it runs req's packets through the data plane and
// writes the report to out.
func Run(req Request, out io.Writer) error {
	o := Options{MTU: req.MTU}
	reals := req.Reals
	var err error
	if o.Modes, err = ParseMode(req.Mode); err != nil {
		return err
	}
	if req.DirectorIP != "" {
		if o.RealsAddr, err = netip.ParseAddr(req.DirectorIP); err != nil {
			return fmt.Errorf("--director-ip %q: give an IPv4 address", req.DirectorIP)
		}
	}

	// The inputs: described packets or a capture.
	var specs []*Spec
	var inputs []Input
	if desc := strings.TrimSpace(req.Packets); desc != "" {
		if specs, err = ParseSpecs(desc); err != nil {
			return err
		}
	}
	if req.Read != "" {
		if inputs, err = ReadCapture(req.Read); err != nil {
			return err
		}
	}
	if len(specs) == 0 && len(inputs) == 0 {
		return ErrNothingToInspect
	}

	// The services: from the config, or one built from --real.
	switch {
	case req.ConfigPath != "" && len(reals) > 0:
		return errors.New("give either -f or --real, not both")
	case req.ConfigPath != "":
		cfg, _, err := config.Load(req.ConfigPath, config.Options{})
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
		o.Services = ServiceFor(proto, vip, rcs, m, req.Sched)
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
	if req.PcapOut != "" {
		f, err := os.Create(req.PcapOut)
		if err != nil {
			return err
		}
		defer f.Close()
		if pw, err = NewPcapngWriter(f); err != nil {
			return err
		}
	}
	p := &Printer{W: out, Color: UseColor(req.Color, out), NoHex: req.NoHex}
	var all []Rewrite
	for i, in := range inputs {
		rws := e.Inspect(in)
		if pw != nil {
			if err := pw.WriteRewrites(rws); err != nil {
				return fmt.Errorf("writing %s: %w", req.PcapOut, err)
			}
		}
		if req.JSON {
			all = append(all, rws...)
			continue
		}
		if i > 0 {
			fmt.Fprintln(out)
		}
		p.Packet(rws)
	}
	if req.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			return err
		}
	}
	if pw != nil {
		if err := pw.Flush(); err != nil {
			return fmt.Errorf("writing %s: %w", req.PcapOut, err)
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
