package lvssync

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Protocol constants of ip_vs_sync.c and include/uapi/linux/ip_vs.h.
const (
	DefaultPort = 8848 // IP_VS_SYNC_PORT
	DefaultTTL  = 1
	Version     = 1 // SYNC_PROTO_VER, in the version 1 header

	HeaderLen   = 8  // struct ip_vs_sync_mesg
	headerV0Len = 4  // struct ip_vs_sync_mesg_v0
	entryV4Len  = 36 // struct ip_vs_sync_v4
	entryV6Len  = 72 // struct ip_vs_sync_v6
	entryV0Len  = 24 // struct ip_vs_sync_conn_v0
	seqOptLen   = 24 // struct ip_vs_sync_conn_options: two ip_vs_seq

	// MaxConns is the most entries a message holds: nr_conns is one byte.
	MaxConns = 255
	// DefaultMaxLen is the message size a kernel master uses when maxlen
	// is not given, whatever the interface MTU: 1500 less the IPv4 and
	// UDP headers.
	DefaultMaxLen = 1500 - 20 - 8
	// MaxMaxLen is the largest maxlen: a UDP datagram over IPv4.
	MaxMaxLen = 65535 - 20 - 8

	// PEDataMax and PENameMax bound the persistence-engine options
	// (IP_VS_PEDATA_MAXLEN, IP_VS_PENAME_MAXLEN).
	PEDataMax = 255
	PENameMax = 16

	// maxEntryLen is the largest entry: IPv6 with every option.
	maxEntryLen = entryV6Len + 2 + seqOptLen + 2 + PEDataMax + 2 + PENameMax
)

// DefaultGroup is IP_VS_SYNC_GROUP.
var DefaultGroup = netip.AddrFrom4([4]byte{224, 0, 0, 81})

// Connection flags (IP_VS_CONN_F_*). Only bits 0..15 travel; a receiver
// keeps FlagBackupMask of them and adds FlagSync.
const (
	FlagFwdMask   = 0x0007 // forwarding method
	FlagMasq      = 0x0000 // NAT
	FlagLocalNode = 0x0001
	FlagTunnel    = 0x0002
	FlagDRoute    = 0x0003
	FlagBypass    = 0x0004
	FlagSync      = 0x0020 // entry created by sync
	FlagHashed    = 0x0040 // never sent
	FlagNoOutput  = 0x0080
	FlagInactive  = 0x0100 // not established
	FlagOutSeq    = 0x0200
	FlagInSeq     = 0x0400
	FlagSeqMask   = 0x0600
	FlagNoCPort   = 0x0800
	FlagTemplate  = 0x1000 // persistence template, not a connection
	FlagOnePacket = 0x2000 // never synced

	FlagBackupMask = FlagFwdMask | FlagNoOutput | FlagInactive | FlagSeqMask | FlagNoCPort | FlagTemplate
)

// Option types of a version 1 entry. An unknown type with optFlagParam
// set is skipped; one without it makes the receiver skip the entry.
const (
	optSeq       = 1
	optPEData    = 2
	optPEName    = 3
	optFlagParam = 1 << (7 - 1) // IPVS_OPT_F_PARAM
)

// entry type bits
const typeInet6 = 1 // STYPE_F_INET6

// Header is a view of the version 1 message header.
type Header []byte

func (h Header) Reserved() uint8 { return h[0] } // 0 in version 1 (nr_conns in version 0)
func (h Header) SyncID() uint8   { return h[1] }
func (h Header) Size() uint16    { return binary.BigEndian.Uint16(h[2:]) }
func (h Header) NrConns() uint8  { return h[4] }
func (h Header) Version() uint8  { return h[5] }
func (h Header) Spare() uint16   { return binary.BigEndian.Uint16(h[6:]) }

func (h Header) put(syncID uint8, size uint16, nr, version uint8) {
	h[0], h[1] = 0, syncID
	binary.BigEndian.PutUint16(h[2:], size)
	h[4], h[5] = nr, version
	binary.BigEndian.PutUint16(h[6:], 0)
}

// Entry is a view of the fixed part of a version 1 connection entry
// (ip_vs_sync_v4 or ip_vs_sync_v6).
type Entry []byte

func (e Entry) Type() uint8     { return e[0] }
func (e Entry) Protocol() uint8 { return e[1] }
func (e Entry) VerSize() uint16 { return binary.BigEndian.Uint16(e[2:]) }
func (e Entry) Flags() uint32   { return binary.BigEndian.Uint32(e[4:]) }
func (e Entry) State() uint16   { return binary.BigEndian.Uint16(e[8:]) }
func (e Entry) CPort() uint16   { return binary.BigEndian.Uint16(e[10:]) }
func (e Entry) VPort() uint16   { return binary.BigEndian.Uint16(e[12:]) }
func (e Entry) DPort() uint16   { return binary.BigEndian.Uint16(e[14:]) }
func (e Entry) FWMark() uint32  { return binary.BigEndian.Uint32(e[16:]) }
func (e Entry) Timeout() uint32 { return binary.BigEndian.Uint32(e[20:]) }
func (e Entry) IPv6() bool      { return e[0]&typeInet6 != 0 }
func (e Entry) addr(i int) netip.Addr {
	if e.IPv6() {
		return netip.AddrFrom16([16]byte(e[24+16*i:]))
	}
	return netip.AddrFrom4([4]byte(e[24+4*i:]))
}
func (e Entry) CAddr() netip.Addr { return e.addr(0) }
func (e Entry) VAddr() netip.Addr { return e.addr(1) }
func (e Entry) DAddr() netip.Addr { return e.addr(2) }

// Seq is a TCP sequence adjustment (struct ip_vs_seq). IPVS sets it only
// for application helpers that change payload length (FTP); ulvs carries
// it through and never makes one.
type Seq struct {
	InitSeq, Delta, PrevDelta uint32
}

// Conn is one connection entry, decoded. A parsed Conn's PEData and
// PEName are views into the message and live only as long as it.
type Conn struct {
	Protocol            uint8
	Flags               uint32
	State               uint16
	CPort, VPort, DPort uint16
	FWMark              uint32
	// Timeout is the remaining timeout in seconds; 0 (version 0) means
	// the receiver's own timeout for the state.
	Timeout             uint32
	CAddr, VAddr, DAddr netip.Addr
	// HasSeq carries InSeq and OutSeq (IPVS sends them when Flags has
	// FlagSeqMask bits).
	HasSeq        bool
	InSeq, OutSeq Seq
	// PEData and PEName are a persistence engine's data and name
	// (IPVS's "sip" engine); PEName goes only with PEData.
	PEData, PEName []byte
}

// Errors of Encoder.Add: the entry cannot be encoded at all.
var (
	ErrFamily = errors.New("lvssync: entry addresses must be all IPv4 or all IPv6")
	ErrPE     = errors.New("lvssync: persistence-engine name without data, or data or name too long")
)

// encodedLen is the entry's length on the wire, without padding.
func (c *Conn) encodedLen() (int, error) {
	v6 := c.CAddr.Is6()
	if !c.CAddr.IsValid() || !c.VAddr.IsValid() || !c.DAddr.IsValid() || c.VAddr.Is6() != v6 || c.DAddr.Is6() != v6 {
		return 0, ErrFamily
	}
	n := entryV4Len
	if v6 {
		n = entryV6Len
	}
	if c.HasSeq {
		n += 2 + seqOptLen
	}
	if len(c.PEData) > PEDataMax || len(c.PEName) > PENameMax || len(c.PEName) > 0 && len(c.PEData) == 0 {
		return 0, ErrPE
	}
	if len(c.PEData) > 0 {
		n += 2 + len(c.PEData)
	}
	if len(c.PEName) > 0 {
		n += 2 + len(c.PEName)
	}
	return n, nil
}

// put writes the entry, n bytes long, at b.
func (c *Conn) put(b []byte, n int) {
	e := b[:n]
	off := entryV4Len
	e[0] = 0
	if c.CAddr.Is6() {
		e[0] = typeInet6
		off = entryV6Len
	}
	e[1] = c.Protocol
	binary.BigEndian.PutUint16(e[2:], uint16(n)&0x0fff) // version 0 of the entry format
	binary.BigEndian.PutUint32(e[4:], c.Flags&^FlagHashed)
	binary.BigEndian.PutUint16(e[8:], c.State)
	binary.BigEndian.PutUint16(e[10:], c.CPort)
	binary.BigEndian.PutUint16(e[12:], c.VPort)
	binary.BigEndian.PutUint16(e[14:], c.DPort)
	binary.BigEndian.PutUint32(e[16:], c.FWMark)
	binary.BigEndian.PutUint32(e[20:], c.Timeout)
	if c.CAddr.Is6() {
		a, v, d := c.CAddr.As16(), c.VAddr.As16(), c.DAddr.As16()
		copy(e[24:], a[:])
		copy(e[40:], v[:])
		copy(e[56:], d[:])
	} else {
		a, v, d := c.CAddr.As4(), c.VAddr.As4(), c.DAddr.As4()
		copy(e[24:], a[:])
		copy(e[28:], v[:])
		copy(e[32:], d[:])
	}
	if c.HasSeq {
		e[off], e[off+1] = optSeq, seqOptLen
		for i, s := range [2]Seq{c.InSeq, c.OutSeq} {
			o := off + 2 + 12*i
			binary.BigEndian.PutUint32(e[o:], s.InitSeq)
			binary.BigEndian.PutUint32(e[o+4:], s.Delta)
			binary.BigEndian.PutUint32(e[o+8:], s.PrevDelta)
		}
		off += 2 + seqOptLen
	}
	if len(c.PEData) > 0 {
		e[off], e[off+1] = optPEData, uint8(len(c.PEData))
		off += 2 + copy(e[off+2:], c.PEData)
	}
	if len(c.PEName) > 0 {
		e[off], e[off+1] = optPEName, uint8(len(c.PEName))
		copy(e[off+2:], c.PEName)
	}
}

// Encoder packs entries into one version 1 message of at most maxlen
// bytes, the way ip_vs_sync_conn does: each entry starts on a 4-byte
// boundary (the padding counts in the size), and an entry always fits
// an empty message even when maxlen is smaller. It allocates only in
// NewEncoder.
type Encoder struct {
	buf    []byte
	maxlen int
	syncID uint8
	off    int
	n      int
}

// NewEncoder returns an encoder for messages of at most maxlen bytes
// (DefaultMaxLen if 0), stamped with syncID.
func NewEncoder(maxlen int, syncID uint8) *Encoder {
	if maxlen <= 0 {
		maxlen = DefaultMaxLen
	}
	maxlen = min(maxlen, MaxMaxLen)
	e := &Encoder{buf: make([]byte, max(maxlen, HeaderLen+maxEntryLen)), maxlen: maxlen, syncID: syncID}
	e.Reset()
	return e
}

// Reset empties the message.
func (e *Encoder) Reset() { e.off, e.n = HeaderLen, 0 }

// Len is the number of entries in the message.
func (e *Encoder) Len() int { return e.n }

// Add appends c. It reports false, leaving the message as it was, when
// the message is full: send Bytes, Reset and add c again.
func (e *Encoder) Add(c *Conn) (bool, error) {
	n, err := c.encodedLen()
	if err != nil {
		return false, err
	}
	pad := (4 - e.off) & 3
	if e.n > 0 && (e.n == MaxConns || e.off+pad+n > e.maxlen) {
		return false, nil
	}
	if e.n == 0 {
		pad = 0
	}
	clear(e.buf[e.off : e.off+pad])
	c.put(e.buf[e.off+pad:], n)
	e.off += pad + n
	e.n++
	return true, nil
}

// Bytes is the message: the header is written here. It is valid until
// the next Add or Reset.
func (e *Encoder) Bytes() []byte {
	Header(e.buf).put(e.syncID, uint16(e.off), uint8(e.n), Version)
	return e.buf[:e.off]
}
