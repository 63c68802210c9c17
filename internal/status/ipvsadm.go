package status

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Format selects one of ipvsadm's listing layouts.
type Format uint8

// The layouts of ipvsadm -L.
const (
	FormatDefault        Format = iota // Forward Weight ActiveConn InActConn
	FormatStats                        // --stats
	FormatRate                         // --rate
	FormatThresholds                   // --thresholds
	FormatPersistentConn               // --persistent-conn
	FormatHealth                       // ulvs list --health: Forward Weight Health Checks, failed servers too
)

// ListOptions are ipvsadm -L's modifiers.
type ListOptions struct {
	Format Format
	// Exact prints whole numbers instead of K/M/G/T abbreviations.
	Exact bool
}

// Sort orders services and real servers as ipvsadm does by default:
// services by firewall mark, then protocol, address and port (address
// services, mark 0, first); real servers by address and port.
func Sort(svcs []Service) {
	slices.SortStableFunc(svcs, func(a, b Service) int {
		return cmp.Or(cmp.Compare(a.FWMark, b.FWMark), cmp.Compare(protoNumber(a.Proto), protoNumber(b.Proto)),
			a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
	})
	for i := range svcs {
		slices.SortStableFunc(svcs[i].Reals, func(a, b Real) int {
			return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
		})
	}
}

func protoNumber(p string) int {
	switch p {
	case "TCP":
		return 6
	case "UDP":
		return 17
	case "SCTP":
		return 132
	}
	return 0
}

// WriteList prints snap as ipvsadm -Ln (with opts' modifiers) prints the
// kernel's table, byte for byte: header, title and one line per service
// and real server, in snap's order.
func WriteList(w io.Writer, snap *Snapshot, opts ListOptions) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "IP Virtual Server version %s (size=%d)\n", snap.Version, snap.ConnTableSize)
	switch opts.Format {
	case FormatStats:
		fmt.Fprintf(b, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case FormatRate:
		fmt.Fprintf(b, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case FormatThresholds:
		fmt.Fprintf(b, "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case FormatPersistentConn:
		fmt.Fprintf(b, "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn")
	case FormatHealth:
		fmt.Fprintf(b, "%-33s %-10s %-7s\n  -> RemoteAddress:Port           Forward Weight Health  Checks\n",
			"Prot LocalAddress:Port", "Scheduler", "Quorum")
	default:
		b.WriteString("Prot LocalAddress:Port Scheduler Flags\n" +
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
	for i := range snap.Services {
		writeService(b, &snap.Services[i], opts)
	}
	return b.Flush()
}

func writeService(b *bufio.Writer, s *Service, opts ListOptions) {
	name := serviceName(s)
	switch opts.Format {
	case FormatStats:
		fmt.Fprintf(b, "%-33s", name)
		largeNums(b, opts.Exact, s.Stats.Conns, s.Stats.InPkts, s.Stats.OutPkts, s.Stats.InBytes, s.Stats.OutBytes)
	case FormatRate:
		fmt.Fprintf(b, "%-33s", name)
		largeNums(b, opts.Exact, s.Rate.CPS, s.Rate.InPPS, s.Rate.OutPPS, s.Rate.InBPS, s.Rate.OutBPS)
	case FormatHealth:
		fmt.Fprintf(b, "%-33s %-10s %-7s\n", name, s.Scheduler, orDash(s.Quorum))
		for _, list := range [][]Real{s.Reals, s.Failed} {
			for i := range list {
				r := &list[i]
				fmt.Fprintf(b, "  -> %-28s %-7s %-6d %-7s %s", hostPort(r.Addr, r.Port), r.Forward, r.Weight,
					orDash(r.Health), orDash(strings.Join(r.Checks, ",")))
				if r.HealthError != "" {
					fmt.Fprintf(b, " (%s)", r.HealthError)
				}
				b.WriteByte('\n')
			}
		}
		return
	default:
		fmt.Fprintf(b, "%s %s", name, s.Scheduler)
		if s.Persistent != 0 {
			fmt.Fprintf(b, " persistent %d", s.Persistent)
			if s.Addr.Is4() && s.MaskBits != 0 && s.MaskBits != 32 {
				fmt.Fprintf(b, " mask %s", netmask4(s.MaskBits))
			} else if s.Addr.Is6() && s.MaskBits != 0 && s.MaskBits != 128 {
				fmt.Fprintf(b, " mask %d", s.MaskBits)
			}
		}
		if s.OnePacket {
			b.WriteString(" ops")
		}
		if len(s.SchedFlags) > 0 {
			b.WriteString(" " + strings.Join(s.SchedFlags, ","))
		}
	}
	b.WriteByte('\n')
	for i := range s.Reals {
		r := &s.Reals[i]
		dname := hostPort(r.Addr, r.Port)
		switch opts.Format {
		case FormatStats:
			fmt.Fprintf(b, "  -> %-28s", dname)
			largeNums(b, opts.Exact, r.Stats.Conns, r.Stats.InPkts, r.Stats.OutPkts, r.Stats.InBytes, r.Stats.OutBytes)
			b.WriteByte('\n')
		case FormatRate:
			fmt.Fprintf(b, "  -> %-28s %8d %8d %8d", dname, r.Rate.CPS, r.Rate.InPPS, r.Rate.OutPPS)
			largeNums(b, opts.Exact, r.Rate.InBPS, r.Rate.OutBPS)
			b.WriteByte('\n')
		case FormatThresholds:
			fmt.Fprintf(b, "  -> %-28s %-10d %-10d %-10d %-10d\n", dname, r.UThreshold, r.LThreshold, r.ActiveConns, r.InactConns)
		case FormatPersistentConn:
			fmt.Fprintf(b, "  -> %-28s %-9d %-11d %-10d %-10d\n", dname, r.Weight, r.PersistConns, r.ActiveConns, r.InactConns)
		default:
			fmt.Fprintf(b, "  -> %-28s %-7s %-6d %-10d %-10d\n", dname, r.Forward, r.Weight, r.ActiveConns, r.InactConns)
		}
	}
}

// serviceName is ipvsadm's "TCP  1.2.3.4:80" / "FWM  7" column.
func serviceName(s *Service) string {
	if s.FWMark != 0 {
		if s.Addr.Is6() {
			return fmt.Sprintf("FWM  %d IPv6", s.FWMark)
		}
		return fmt.Sprintf("FWM  %d", s.FWMark)
	}
	return s.Proto + "  " + hostPort(s.Addr, s.Port)
}

func hostPort(a netip.Addr, port uint16) string {
	return netip.AddrPortFrom(a, port).String()
}

func netmask4(bits int) string {
	m := ^uint32(0) << (32 - bits)
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}

// largeNums prints numbers as ipvsadm's print_largenum: right-aligned in 9
// columns, abbreviated with K, M, G or T once they no longer fit (unless
// exact), each preceded by at least one space.
func largeNums(b *bufio.Writer, exact bool, nums ...uint64) {
	for _, n := range nums {
		switch {
		case exact:
			s := strconv.FormatUint(n, 10)
			fmt.Fprintf(b, "%*s", max(9, len(s)+1), s)
		case n < 100_000_000:
			fmt.Fprintf(b, "%9d", n)
		case n < 1_000_000_000:
			fmt.Fprintf(b, "%8dK", n/1_000)
		case n < 100_000_000_000:
			fmt.Fprintf(b, "%8dM", n/1_000_000)
		case n < 100_000_000_000_000:
			fmt.Fprintf(b, "%8dG", n/1_000_000_000)
		default:
			fmt.Fprintf(b, "%8dT", n/1_000_000_000_000)
		}
	}
}

// WriteTimeouts prints ipvsadm -L --timeout.
func WriteTimeouts(w io.Writer, t Timeouts) error {
	_, err := fmt.Fprintf(w, "Timeout (tcp tcpfin udp): %d %d %d\n", t.TCP, t.TCPFin, t.UDP)
	return err
}

// WriteConns prints ipvsadm -Lnc: one line per entry with the time left
// as mm:ss.
func WriteConns(w io.Writer, conns []Conn) error {
	b := bufio.NewWriter(w)
	b.WriteString("IPVS connection entries\n")
	fmt.Fprintf(b, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	for _, c := range conns {
		secs := int(c.Expires.Seconds())
		exp := fmt.Sprintf("%02d:%02d", secs/60, secs%60)
		fmt.Fprintf(b, "%-3s %-6s %-11s %-18s %-18s %s\n", c.Proto, exp, c.State,
			c.Client.String(), c.Virtual.String(), c.Real.String())
	}
	return b.Flush()
}

func newBuf(w io.Writer) *bufio.Writer { return bufio.NewWriter(w) }

// WriteVRRP prints the vrrp_instances, one line each, after the table:
//
//	VRRP Instance  Interface  VRID  State   Prio  Master       VIPs
func WriteVRRP(w io.Writer, in []VRRPInstance) error {
	if len(in) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VRRP Instance\tInterface\tVRID\tVer\tState\tPrio\tMaster\tSince\tVIPs")
	for _, v := range in {
		prio := strconv.Itoa(int(v.Priority))
		if v.Priority != v.BasePriority {
			prio += fmt.Sprintf(" (%d)", v.BasePriority)
		}
		master := "-"
		if v.Master.IsValid() {
			master = v.Master.String()
		}
		vips := make([]string, len(v.VIPs))
		for i, a := range v.VIPs {
			vips[i] = a.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\tv%d\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Interface, v.VRID, v.Version, v.State,
			prio, master, v.Since.UTC().Format(time.RFC3339), strings.Join(vips, ","))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
