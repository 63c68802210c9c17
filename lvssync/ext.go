package lvssync

import (
	"encoding/binary"
	"errors"
)

// The bulk-resync extension (docs/vrrp.md, Connection sync). Its
// messages have a version 1 style header with reserved 0, nr_conns 0 and
// version extVersion. The kernel's ip_vs_process_message reads any
// header that is not exactly version 1 (reserved 0, version 1, spare 0)
// as version 0, whose first byte is the entry count: 0 here, so an IPVS
// backup processes no entry and drops it without a trace; Wireshark
// shows an empty IPVS message. The body follows the header:
//
//	0  magic "ULVS"
//	4  op (ExtOp)
//	5  zero (3 bytes)
//	8  nonce: chosen by the requester, echoed in the answers
//	12 count: entries in the table (begin) or sent (end); 0 in a request
//	16 rate: entries per second (begin); the most the requester accepts
//	   in a request, 0 for the master's choice
//
// The entries themselves travel as plain version 1 messages between a
// begin and an end, so an IPVS backup on the same group learns them too.
const (
	extVersion = 0x55 // 'U'; any value but 1 reads as empty to the kernel
	extBodyLen = 20
	// ExtLen is the length of an extension message.
	ExtLen = HeaderLen + extBodyLen
)

var extMagic = [4]byte{'U', 'L', 'V', 'S'}

// ExtOp is an extension message's operation.
type ExtOp uint8

const (
	// OpResyncRequest is sent by a backup that starts: send me the table.
	OpResyncRequest ExtOp = 1
	// OpResyncBegin is the master's answer before the entries.
	OpResyncBegin ExtOp = 2
	// OpResyncEnd follows the last entry of a resync.
	OpResyncEnd ExtOp = 3
)

// Ext is an extension message, decoded.
type Ext struct {
	Op    ExtOp
	Nonce uint32
	Count uint32
	Rate  uint32
}

// errExt is returned for a body that is not a ulvs extension.
var errExt = errors.New("lvssync: malformed extension message")

// AppendExt appends the extension message x, stamped with syncID, to b.
func AppendExt(b []byte, syncID uint8, x Ext) []byte {
	n := len(b)
	b = append(b, make([]byte, ExtLen)...)
	m := b[n:]
	Header(m).put(syncID, ExtLen, 0, extVersion)
	copy(m[HeaderLen:], extMagic[:])
	m[HeaderLen+4] = uint8(x.Op)
	binary.BigEndian.PutUint32(m[HeaderLen+8:], x.Nonce)
	binary.BigEndian.PutUint32(m[HeaderLen+12:], x.Count)
	binary.BigEndian.PutUint32(m[HeaderLen+16:], x.Rate)
	return b
}

// ParseExt decodes the body of an extension message (Reader.Extension).
func ParseExt(body []byte) (Ext, error) {
	if len(body) != extBodyLen || [4]byte(body) != extMagic || body[5] != 0 || body[6] != 0 || body[7] != 0 {
		return Ext{}, errExt
	}
	x := Ext{
		Op:    ExtOp(body[4]),
		Nonce: binary.BigEndian.Uint32(body[8:]),
		Count: binary.BigEndian.Uint32(body[12:]),
		Rate:  binary.BigEndian.Uint32(body[16:]),
	}
	if x.Op < OpResyncRequest || x.Op > OpResyncEnd {
		return Ext{}, errExt
	}
	return x, nil
}
