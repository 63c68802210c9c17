package lvssync

//go:generate go tool stringer -type Drop -linecomment

// Drop is why a received message, or one entry of it, was discarded. The
// line comment is the reason's metric label.
type Drop uint8

// The reasons, in the order the kernel's ip_vs_process_message checks
// them. Up to DropOption the rest of the message is discarded (the
// kernel does the same); the later ones skip one entry.
const (
	DropNone Drop = iota // none
	// Shorter than a header.
	DropShort // short
	// Length differs from the header's size.
	DropSize // size
	// Sync ID differs from the one configured.
	DropSyncID // syncid
	// A header of no version ulvs reads.
	DropVersion // version
	// An entry runs past the end of the message.
	DropTruncated // truncated
	// An entry of a format version other than 0.
	DropEntryVersion // entry_version
	// An entry type that is neither IPv4 nor IPv6.
	DropFamily // family
	// A malformed option: short, zero or wrong length, or repeated.
	DropOption // option
	// An unknown option marked mandatory: the entry is skipped.
	DropMandatory // mandatory_option
	// Persistence-engine data without an engine name: the entry is
	// skipped.
	DropPE // pe_data
	// A ulvs extension message that is malformed.
	DropExtension // extension
	// A connection (not a template) of a protocol other than TCP and
	// UDP, the ones ulvs balances (the kernel skips protocols it has no
	// module for): the entry is skipped.
	DropProtocol // protocol
	// A connection state past the protocol's last (11 for TCP, 2 for UDP,
	// as IPVS numbers them): the entry is skipped.
	DropState // state

	// NumDrops is the number of reasons, for sizing arrays.
	NumDrops // unknown
)

// stops reports whether d ends the message rather than skipping one
// entry.
func (d Drop) stops() bool {
	return d != DropNone && d != DropMandatory && d != DropPE && d != DropProtocol && d != DropState
}
