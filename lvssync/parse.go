package lvssync

import (
	"encoding/binary"
	"net/netip"
)

// Kind is what a validated message carries.
type Kind uint8

const (
	// KindConns is a version 1 message of connection entries.
	KindConns Kind = iota
	// KindConnsV0 is a version 0 message (IPv4 entries, no timeout, no
	// fwmark), which the kernel still accepts.
	KindConnsV0
	// KindExtension is a ulvs extension message (ext.go).
	KindExtension
)

// Reader validates a received message and walks its entries without
// allocating.
type Reader struct {
	msg  []byte
	kind Kind
	off  int
	left int
}

// Reset starts reading msg. syncID filters as the kernel's backup does:
// 0 accepts every sync ID. A message whose header is refused yields no
// entries.
func (r *Reader) Reset(msg []byte, syncID uint8) (Kind, Drop) {
	r.msg, r.left = msg, 0
	if len(msg) < headerV0Len {
		return 0, DropShort
	}
	h := Header(msg)
	if int(h.Size()) != len(msg) {
		return 0, DropSize
	}
	if syncID != 0 && h.SyncID() != syncID {
		return 0, DropSyncID
	}
	// The kernel reads anything that is not a clean version 1 header as
	// version 0 with nr_conns in the first byte; ulvs reads version 0
	// the same way but refuses a version 0 header that counts no entries,
	// which no sender makes and which is what an unknown version looks
	// like (the extension relies on the kernel reading it as empty).
	switch {
	case len(msg) >= HeaderLen && h.Reserved() == 0 && h.Version() == Version && h.Spare() == 0:
		r.kind, r.off, r.left = KindConns, HeaderLen, int(h.NrConns())
	case len(msg) >= HeaderLen && h.Reserved() == 0 && h.Version() == extVersion:
		r.kind = KindExtension
	case h.Reserved() != 0:
		r.kind, r.off, r.left = KindConnsV0, headerV0Len, int(h.Reserved())
	default:
		return 0, DropVersion
	}
	return r.kind, DropNone
}

// Extension is the body of an extension message, valid after Reset
// returned KindExtension.
func (r *Reader) Extension() []byte { return r.msg[HeaderLen:] }

// Next decodes the next entry into c. ok is false when the message has
// no more entries, or when d says why the rest of it is discarded. With
// ok true and d not DropNone, the entry is to be skipped for reason d.
func (r *Reader) Next(c *Conn) (ok bool, d Drop) {
	if r.left <= 0 || r.kind == KindExtension {
		return false, DropNone
	}
	r.left--
	if r.kind == KindConnsV0 {
		d = r.nextV0(c)
	} else {
		d = r.nextV1(c)
	}
	if d.stops() {
		r.left = 0
		return false, d
	}
	return true, d
}

func (r *Reader) nextV1(c *Conn) Drop {
	p := r.off
	if p+entryV4Len > len(r.msg) {
		return DropTruncated
	}
	e := Entry(r.msg[p:])
	size := int(e.VerSize() & 0x0fff)
	end := p + size
	if end > len(r.msg) {
		return DropTruncated
	}
	if e.VerSize()>>12 != 0 {
		return DropEntryVersion
	}
	fixed := entryV4Len
	switch e.Type() {
	case 0:
	case typeInet6:
		fixed = entryV6Len
	default:
		return DropFamily
	}
	if p+fixed > end {
		return DropTruncated
	}
	*c = Conn{
		Protocol: e.Protocol(), Flags: e.Flags(), State: e.State(),
		CPort: e.CPort(), VPort: e.VPort(), DPort: e.DPort(),
		FWMark: e.FWMark(), Timeout: e.Timeout(),
		CAddr: e.CAddr(), VAddr: e.VAddr(), DAddr: e.DAddr(),
	}
	// The next entry starts on a 4-byte boundary.
	r.off = p + (size+3)&^3
	skip := DropNone
	for o := p + fixed; o < end; {
		if o+2 > end {
			return DropOption
		}
		typ, n := r.msg[o], int(r.msg[o+1])
		o += 2
		if n == 0 || o+n > end {
			return DropOption
		}
		v := r.msg[o : o+n]
		switch typ &^ optFlagParam {
		case optSeq:
			if n != seqOptLen || c.HasSeq {
				return DropOption
			}
			c.HasSeq = true
			c.InSeq = Seq{binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:]), binary.BigEndian.Uint32(v[8:])}
			c.OutSeq = Seq{binary.BigEndian.Uint32(v[12:]), binary.BigEndian.Uint32(v[16:]), binary.BigEndian.Uint32(v[20:])}
		case optPEData:
			if c.PEData != nil {
				return DropOption
			}
			c.PEData = v
		case optPEName:
			if n > PENameMax || c.PEName != nil {
				return DropOption
			}
			c.PEName = v
		default:
			// The kernel stops reading the entry's options here.
			if typ&optFlagParam == 0 {
				return DropMandatory
			}
		}
		o += n
	}
	if c.PEData != nil && c.PEName == nil {
		skip = DropPE
	}
	if skip == DropNone {
		skip = checkProtoState(c)
	}
	return skip
}

// IPVS's state counts (IP_VS_TCP_S_LAST, IP_VS_UDP_S_LAST).
const (
	tcpStates = 11
	udpStates = 2
)

// checkProtoState is the kernel's check that a connection's protocol is
// known and its state within the protocol's table; templates are not
// checked.
func checkProtoState(c *Conn) Drop {
	if c.Flags&FlagTemplate != 0 {
		return DropNone
	}
	switch {
	case c.Protocol == 6 && c.State < tcpStates, c.Protocol == 17 && c.State < udpStates:
		return DropNone
	case c.Protocol == 6 || c.Protocol == 17:
		return DropState
	}
	return DropProtocol
}

// nextV0 reads an ip_vs_sync_conn_v0, followed by the sequence options
// when its flags say so.
func (r *Reader) nextV0(c *Conn) Drop {
	p := r.off
	if p+entryV0Len > len(r.msg) {
		return DropTruncated
	}
	b := r.msg[p:]
	flags := binary.BigEndian.Uint16(b[20:])
	*c = Conn{
		Protocol: b[1],
		CPort:    binary.BigEndian.Uint16(b[2:]), VPort: binary.BigEndian.Uint16(b[4:]), DPort: binary.BigEndian.Uint16(b[6:]),
		CAddr: netip.AddrFrom4([4]byte(b[8:])), VAddr: netip.AddrFrom4([4]byte(b[12:])), DAddr: netip.AddrFrom4([4]byte(b[16:])),
		Flags: uint32(flags), State: binary.BigEndian.Uint16(b[22:]),
	}
	r.off = p + entryV0Len
	if flags&FlagSeqMask != 0 {
		if r.off+seqOptLen > len(r.msg) {
			return DropTruncated
		}
		// Version 0 copies the kernel's host-order struct: read it as the
		// little-endian machines that send it.
		v := r.msg[r.off:]
		c.HasSeq = true
		c.InSeq = Seq{binary.LittleEndian.Uint32(v), binary.LittleEndian.Uint32(v[4:]), binary.LittleEndian.Uint32(v[8:])}
		c.OutSeq = Seq{binary.LittleEndian.Uint32(v[12:]), binary.LittleEndian.Uint32(v[16:]), binary.LittleEndian.Uint32(v[20:])}
		r.off += seqOptLen
	}
	return checkProtoState(c)
}
