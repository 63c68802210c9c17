package bench

import (
	"slices"
	"strings"
)

// Subject is one forwarder the throughput run measures.
type Subject string

// The subjects, in the order a run measures them.
const (
	// ULVSNAT, ULVSDR and ULVSTUN are `ulvs run` in the director namespace.
	ULVSNAT Subject = "ulvs-nat"
	ULVSDR  Subject = "ulvs-dr"
	ULVSTUN Subject = "ulvs-tun"
	// Null is afpacket.Relay from front0's RX ring to back0's TX ring with
	// only the MACs rewritten: the physical limit of ulvs's I/O path.
	Null Subject = "null-forwarder"
	// NullIPIP is Null with every frame encapsulated in an outer IPv4
	// header to its real server, as TUN sends it: the limit of the I/O path
	// for frames 20 bytes longer that the kernel dissects one header
	// deeper, so that ulvs-tun can be compared with the I/O it implies.
	NullIPIP Subject = "null-ipip"
	// KernelDNAT is the director's own kernel forwarding with an nftables
	// DNAT rule (conntrack on). Its receive softirq runs on the generator's
	// CPU, as veth runs the receiver inline on the sender's CPU.
	KernelDNAT Subject = "kernel-dnat"
	// KernelDNATRPS is KernelDNAT with RPS steering front0's receive
	// processing to the subject CPU, so the kernel gets a core of its own as
	// ulvs does.
	KernelDNATRPS Subject = "kernel-dnat-rps"
)

// AllSubjects lists every subject in measuring order.
func AllSubjects() []Subject {
	return []Subject{ULVSNAT, ULVSDR, ULVSTUN, Null, NullIPIP, KernelDNAT, KernelDNATRPS}
}

// Kind is the subject without its binary: "ulvs-dr@/tmp/old/ulvs" is of
// kind ulvs-dr.
func (s Subject) Kind() Subject {
	k, _, _ := strings.Cut(string(s), "@")
	return Subject(k)
}

// Binary is the ulvs binary named after "@" ("ulvs-dr@/tmp/old/ulvs"
// runs /tmp/old/ulvs in DR), or "" for Config.Binary. Two builds then run
// side by side in one run, paired window by window like any two subjects.
func (s Subject) Binary() string {
	_, b, _ := strings.Cut(string(s), "@")
	return b
}

// IsULVS reports whether the subject runs a ulvs binary.
func (s Subject) IsULVS() bool {
	k := s.Kind()
	return k == ULVSNAT || k == ULVSDR || k == ULVSTUN
}

// valid reports whether s is a known subject, with a binary only where it
// runs one.
func (s Subject) valid() bool {
	if _, bin, named := strings.Cut(string(s), "@"); named && (bin == "" || !s.IsULVS()) {
		return false
	}
	return slices.Contains(AllSubjects(), s.Kind())
}

// Describe says in a few words what the subject is.
func (s Subject) Describe() string {
	if b := s.Binary(); b != "" {
		return s.Kind().Describe() + ", binary " + b
	}
	switch s {
	case ULVSNAT:
		return "ulvs run, lb_kind NAT"
	case ULVSDR:
		return "ulvs run, lb_kind DR"
	case ULVSTUN:
		return "ulvs run, lb_kind TUN (IPIP)"
	case Null:
		return "afpacket.Relay front0 RX ring -> back0 TX ring, MACs rewritten"
	case NullIPIP:
		return "as null-forwarder, each frame in an outer IPv4 header (IPIP) to its real"
	case KernelDNAT:
		return "kernel ip_forward + nft dnat numgen inc, conntrack"
	case KernelDNATRPS:
		return "as kernel-dnat, front0 RPS to the subject CPU"
	}
	return string(s)
}
