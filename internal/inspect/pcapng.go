package inspect

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"
)

// pcapng block types and option codes (draft-ietf-opsawg-pcapng).
const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 0x00000001
	blockEPB = 0x00000006

	optEnd       = 0
	optComment   = 1
	optSHBUser   = 4 // shb_userappl
	optIfName    = 2 // if_name
	optIfDesc    = 3 // if_description
	optEPBFlags  = 2 // epb_flags: bits 0-1 direction, 01 inbound, 10 outbound
	optEPBPktID  = 5 // epb_packetid: links the copies of one packet
	linkEthernet = 1
)

// The pcapng interface IDs of the two sides of the director.
const (
	pcapIfClient = 0
	pcapIfReals  = 1
)

// PcapngWriter writes Rewrites as a pcapng file: the frames before and
// after on two interfaces (client side, real-server side), each with a
// comment (opt_comment) that links the pair and names the change, the
// direction in epb_flags, and one epb_packetid shared by every frame of
// one input packet. gopacket's pcapgo.NgWriter cannot write per-packet
// options, hence this writer.
type PcapngWriter struct {
	w      *bufio.Writer
	frames int // frames written so far: the next frame's number is frames+1
	err    error
}

// NewPcapngWriter writes the section header and the two interface blocks.
func NewPcapngWriter(w io.Writer) (*PcapngWriter, error) {
	pw := &PcapngWriter{w: bufio.NewWriter(w)}
	var shb []byte
	shb = le32(shb, 0x1A2B3C4D) // byte-order magic
	shb = le16(shb, 1)
	shb = le16(shb, 0)
	shb = le64(shb, ^uint64(0)) // section length unknown
	shb = option(shb, optSHBUser, []byte("ulvs inspect"))
	shb = option(shb, optComment, []byte("ulvs inspect: frames before and after the director's rewrite; see each frame's comment"))
	shb = append(shb, 0, 0, 0, 0) // opt_endofopt
	pw.block(blockSHB, shb)
	for _, i := range []struct{ name, desc string }{
		{IfaceClient, "director, client side: what clients send and receive"},
		{IfaceReals, "director, real-server side: what real servers receive and send"},
	} {
		var idb []byte
		idb = le16(idb, linkEthernet)
		idb = le16(idb, 0)
		idb = le32(idb, 0) // no snap length limit
		idb = option(idb, optIfName, []byte(i.name))
		idb = option(idb, optIfDesc, []byte(i.desc))
		idb = append(idb, 0, 0, 0, 0) // opt_endofopt
		pw.block(blockIDB, idb)
	}
	return pw, pw.err
}

// WriteRewrites writes one input packet's Rewrites (one per director):
// the frame as received once, then every frame each director sent.
func (pw *PcapngWriter) WriteRewrites(rws []Rewrite) error {
	if len(rws) == 0 {
		return pw.err
	}
	first := &rws[0]
	ts := first.Time
	if ts.IsZero() {
		ts = time.Unix(1700000000, 0).Add(time.Duration(first.Packet) * time.Millisecond)
	}
	beforeNo := pw.frames + 1
	// Number the after frames first, so the before frame's comment can name them.
	var links []string
	next := beforeNo + 1
	for i := range rws {
		rw := &rws[i]
		var nos []string
		for range rw.After {
			nos = append(nos, fmt.Sprint(next))
			next++
		}
		switch {
		case rw.Drop != "" && len(nos) > 0:
			links = append(links, fmt.Sprintf("%s: dropped (%s), director's reply is frame %s", rw.Mode, rw.Drop, strings.Join(nos, ", ")))
		case rw.Drop != "":
			links = append(links, fmt.Sprintf("%s: dropped (%s)", rw.Mode, rw.Drop))
		case len(nos) > 0:
			links = append(links, fmt.Sprintf("%s: sent as frame %s", rw.Mode, strings.Join(nos, ", ")))
		}
	}
	comment := fmt.Sprintf("ulvs packet %d BEFORE, received on the %s side: %s. %s",
		first.Packet, first.Before.Interface, Summary(&first.Before), strings.Join(links, "; "))
	pw.epb(&first.Before, ts, comment, uint64(first.Packet))
	for i := range rws {
		rw := &rws[i]
		for j := range rw.After {
			f := &rw.After[j]
			var c string
			if f.Generated {
				c = fmt.Sprintf("ulvs packet %d %s: built by the director in answer to frame %d (%s): %s",
					rw.Packet, rw.Mode, beforeNo, rw.Drop, Summary(f))
			} else {
				c = fmt.Sprintf("ulvs packet %d AFTER %s, rewrite of frame %d: %s", rw.Packet, rw.Mode, beforeNo, rw.Decision.Change)
				switch {
				case rw.Decision.Kind == "NAT reply":
					c += fmt.Sprintf("; NAT reply from real server %s", rw.Decision.Real)
				case rw.Decision.Real != "":
					c += fmt.Sprintf("; %s to real server %s", rw.Decision.Kind, rw.Decision.Real)
				}
			}
			pw.epb(f, ts.Add(time.Duration(pw.frames-beforeNo+1)*time.Microsecond), c, uint64(rw.Packet))
		}
	}
	return pw.err
}

// Flush writes buffered blocks out.
func (pw *PcapngWriter) Flush() error {
	if pw.err != nil {
		return pw.err
	}
	return pw.w.Flush()
}

func (pw *PcapngWriter) epb(f *Frame, ts time.Time, comment string, id uint64) {
	iface := uint32(pcapIfClient)
	if f.Interface == IfaceReals {
		iface = pcapIfReals
	}
	flags := uint32(1) // inbound
	if f.Direction == "out" {
		flags = 2
	}
	us := uint64(ts.UnixMicro())
	var b []byte
	b = le32(b, iface)
	b = le32(b, uint32(us>>32))
	b = le32(b, uint32(us))
	b = le32(b, uint32(len(f.data)))
	b = le32(b, uint32(len(f.data)))
	b = append(b, f.data...)
	b = pad4(b)
	b = option(b, optComment, []byte(comment))
	b = option(b, optEPBFlags, le32(nil, flags))
	b = option(b, optEPBPktID, le64(nil, id))
	b = append(b, 0, 0, 0, 0)
	pw.block(blockEPB, b)
	pw.frames++
}

// block writes type, total length, body, total length.
func (pw *PcapngWriter) block(typ uint32, body []byte) {
	if pw.err != nil {
		return
	}
	n := uint32(12 + len(body))
	var b []byte
	b = le32(b, typ)
	b = le32(b, n)
	b = append(b, body...)
	b = le32(b, n)
	_, pw.err = pw.w.Write(b)
}

// option appends one option TLV, its value padded to 4 bytes.
func option(b []byte, code uint16, v []byte) []byte {
	b = le16(b, code)
	b = le16(b, uint16(len(v)))
	b = append(b, v...)
	return pad4(b)
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func le16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func le64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }
