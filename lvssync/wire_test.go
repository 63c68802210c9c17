package lvssync

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"testing"

	"github.com/ulvs/ulvs/internal/labeltest"
	"github.com/ulvs/ulvs/internal/pcaptest"
)

var (
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

	conn4 = Conn{
		Protocol: 6, Flags: FlagMasq, State: 1, CPort: 40000, VPort: 80, DPort: 8080,
		FWMark: 0, Timeout: 900,
		CAddr: netip.MustParseAddr("10.0.0.1"), VAddr: netip.MustParseAddr("10.0.1.100"), DAddr: netip.MustParseAddr("10.0.2.20"),
	}
	conn6 = Conn{
		Protocol: 17, Flags: FlagDRoute | FlagInactive, State: 0, CPort: 5353, VPort: 53, DPort: 53,
		FWMark: 7, Timeout: 300,
		CAddr: netip.MustParseAddr("2001:db8::1"), VAddr: netip.MustParseAddr("2001:db8:1::100"), DAddr: netip.MustParseAddr("2001:db8:2::20"),
	}
	// A persistence template with the sequence option and engine data.
	connOpts = Conn{
		Protocol: 6, Flags: FlagTunnel | FlagTemplate | FlagInSeq, State: 0, CPort: 0, VPort: 80, DPort: 80,
		FWMark: 0x10, Timeout: 360,
		CAddr: netip.MustParseAddr("10.0.0.9"), VAddr: netip.MustParseAddr("10.0.1.100"), DAddr: netip.MustParseAddr("10.0.2.30"),
		HasSeq: true, InSeq: Seq{1000, 4, 0}, OutSeq: Seq{2000, 0, 0},
		PEData: []byte("call-id-42"), PEName: []byte("sip"),
	}
)

func encode(t testing.TB, maxlen int, syncID uint8, conns ...Conn) []byte {
	t.Helper()
	e := NewEncoder(maxlen, syncID)
	for i := range conns {
		if ok, err := e.Add(&conns[i]); !ok || err != nil {
			t.Fatalf("entry %d: add %v %v", i, ok, err)
		}
	}
	return bytes.Clone(e.Bytes())
}

// TestEncodeKernelLayout pins the bytes against struct ip_vs_sync_mesg,
// ip_vs_sync_v4 and the option layout of ip_vs_sync_conn, written out by
// hand from ip_vs_sync.c: the padding before the second entry, the
// ver_size without it, the options in network order.
func TestEncodeKernelLayout(t *testing.T) {
	got := encode(t, 0, 9, connOpts, conn4)
	want := pcaptest.Hex(`
		00 09 007c 02 01 0000            # reserved, syncid 9, size 124, 2 conns, version 1, spare
		00 06 004f 00001402 0000 0000 0050 0050 00000010 00000168  # type, TCP, size 79, flags, state, ports, fwmark, timeout
		0a000009 0a000164 0a00021e       # caddr, vaddr, daddr
		01 18 000003e8 00000004 00000000 000007d0 00000000 00000000  # seq option
		02 0a 63616c6c2d69642d3432       # PE data "call-id-42"
		03 03 736970                     # PE name "sip"
		00                               # padding to 4 bytes
		00 06 0024 00000000 0001 9c40 0050 1f90 00000000 00000384
		0a000001 0a000164 0a000214`)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
}

// TestRoundTrip encodes and parses every shape of entry.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conns []Conn
	}{
		{"ipv4", []Conn{conn4}},
		{"ipv6", []Conn{conn6}},
		{"options", []Conn{connOpts}},
		{"mixed", []Conn{conn4, connOpts, conn6, conn4}},
	} {
		msg := encode(t, 0, 3, tc.conns...)
		var r Reader
		if k, d := r.Reset(msg, 3); k != KindConns || d != DropNone {
			t.Fatalf("%s: reset %v %v", tc.name, k, d)
		}
		for i, want := range tc.conns {
			var c Conn
			ok, d := r.Next(&c)
			if !ok || d != DropNone {
				t.Fatalf("%s: entry %d: %v %v", tc.name, i, ok, d)
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("%s: entry %d\n got %+v\nwant %+v", tc.name, i, c, want)
			}
		}
		if ok, d := r.Next(new(Conn)); ok || d != DropNone {
			t.Errorf("%s: entry after the last: %v %v", tc.name, ok, d)
		}
	}
}

// TestEncoderPacks fills messages to maxlen and to the 255-entry count.
func TestEncoderPacks(t *testing.T) {
	e := NewEncoder(0, 1)
	n := 0
	for {
		ok, err := e.Add(&conn4)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		n++
	}
	if want := (DefaultMaxLen - HeaderLen) / entryV4Len; n != want || len(e.Bytes()) > DefaultMaxLen {
		t.Errorf("default maxlen holds %d IPv4 entries in %d bytes, want %d in at most %d", n, len(e.Bytes()), want, DefaultMaxLen)
	}
	e = NewEncoder(MaxMaxLen, 1)
	for e.Len() < 300 {
		if ok, _ := e.Add(&conn4); !ok {
			break
		}
	}
	if e.Len() != MaxConns {
		t.Errorf("a large maxlen took %d entries, want %d (nr_conns is a byte)", e.Len(), MaxConns)
	}
	// An entry larger than maxlen still goes alone, as the kernel sizes
	// the buffer for it.
	e = NewEncoder(40, 1)
	if ok, _ := e.Add(&connOpts); !ok || e.Len() != 1 {
		t.Errorf("an entry over maxlen was refused from an empty message")
	}
	if ok, _ := e.Add(&conn4); ok {
		t.Errorf("a second entry went over maxlen")
	}
}

func TestEncoderRefuses(t *testing.T) {
	e := NewEncoder(0, 0)
	bad := conn4
	bad.DAddr = conn6.DAddr
	if _, err := e.Add(&bad); err != ErrFamily {
		t.Errorf("mixed families: %v", err)
	}
	bad = conn4
	bad.PEName = []byte("sip")
	if _, err := e.Add(&bad); err != ErrPE {
		t.Errorf("engine name without data: %v", err)
	}
	if e.Len() != 0 {
		t.Errorf("refused entries were added")
	}
}

// TestParseDrops feeds the kernel's failure cases, each named after the
// check in ip_vs_process_message / ip_vs_proc_sync_conn it mirrors.
func TestParseDrops(t *testing.T) {
	good := encode(t, 0, 5, conn4, conn4)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	setSize := func(b []byte) []byte { b[2], b[3] = byte(len(b)>>8), byte(len(b)); return b }
	for _, tc := range []struct {
		name    string
		msg     []byte
		syncID  uint8
		reset   Drop
		entries []Drop // per Next call until ok is false; last is the stop reason
	}{
		{"short", good[:3], 0, DropShort, nil},
		{"size differs", good[:len(good)-1], 0, DropSize, nil},
		{"other syncid", good, 6, DropSyncID, nil},
		{"syncid 0 accepts all", good, 0, DropNone, []Drop{DropNone, DropNone}},
		{"unknown version", mutate(func(b []byte) []byte { b[5] = 2; return b }), 0, DropVersion, nil},
		{"spare set", mutate(func(b []byte) []byte { b[7] = 1; return b }), 0, DropVersion, nil},
		{"count past the end", mutate(func(b []byte) []byte { b[4] = 3; return b }), 0, DropNone, []Drop{DropNone, DropNone, DropTruncated}},
		{"entry size past the end", mutate(func(b []byte) []byte { b[8+36+3] = 40; return b }), 0, DropNone, []Drop{DropNone, DropTruncated}},
		{"entry version", mutate(func(b []byte) []byte { b[8+2] = 0x10; return b }), 0, DropNone, []Drop{DropEntryVersion}},
		{"family", mutate(func(b []byte) []byte { b[8] = 2; return b }), 0, DropNone, []Drop{DropFamily}},
		{"entry shorter than its addresses", mutate(func(b []byte) []byte { b[8+3] = 30; return b }), 0, DropNone, []Drop{DropTruncated}},
		{"ipv6 type on an ipv4 size", mutate(func(b []byte) []byte { b[8] = 1; return b }), 0, DropNone, []Drop{DropTruncated}},
		{"option header cut", mutate(func(b []byte) []byte {
			b = append(b[:8+36], 0x01, 0, 0, 0)
			b[4], b[8+3] = 1, 37
			return setSize(b)
		}), 0, DropNone, []Drop{DropOption}},
		{"option zero length", mutate(func(b []byte) []byte {
			b = append(b[:8+36], 0x41, 0, 0, 0)
			b[4], b[8+3] = 1, 38
			return setSize(b)
		}), 0, DropNone, []Drop{DropOption}},
		{"seq option wrong length", mutate(func(b []byte) []byte {
			b = append(b[:8+36], optSeq, 2, 0, 0)
			b[4], b[8+3] = 1, 40
			return setSize(b)
		}), 0, DropNone, []Drop{DropOption}},
		{"unknown optional option skipped", mutate(func(b []byte) []byte {
			b = append(b[:8+36], 0x45, 2, 0xaa, 0xbb)
			b[4], b[8+3] = 1, 40
			return setSize(b)
		}), 0, DropNone, []Drop{DropNone}},
		{"unknown mandatory option skips the entry", mutate(func(b []byte) []byte {
			b = append(b[:8+36], 0x05, 2, 0xaa, 0xbb)
			b = append(b, good[8:8+36]...)
			b[4], b[8+3] = 2, 40
			return setSize(b)
		}), 0, DropNone, []Drop{DropMandatory, DropNone}},
		{"engine data without name", mutate(func(b []byte) []byte {
			b = append(b[:8+36], optPEData, 2, 0xaa, 0xbb)
			b[4], b[8+3] = 1, 40
			return setSize(b)
		}), 0, DropNone, []Drop{DropPE}},
		{"sctp skipped", mutate(func(b []byte) []byte { b[8+1] = 132; return b }), 0, DropNone, []Drop{DropProtocol, DropNone}},
		{"tcp state past the last", mutate(func(b []byte) []byte { b[8+9] = 11; return b }), 0, DropNone, []Drop{DropState, DropNone}},
		{"udp state past the last", mutate(func(b []byte) []byte { b[8+1], b[8+9] = 17, 2; return b }), 0, DropNone, []Drop{DropState, DropNone}},
		{"template of any protocol and state", mutate(func(b []byte) []byte { b[8+1], b[8+6], b[8+9] = 50, 0x10, 40; return b }), 0, DropNone,
			[]Drop{DropNone, DropNone}},
	} {
		var r Reader
		_, d := r.Reset(tc.msg, tc.syncID)
		if d != tc.reset {
			t.Errorf("%s: header drop %v, want %v", tc.name, d, tc.reset)
			continue
		}
		var got []Drop
		for range 10 {
			ok, d := r.Next(new(Conn))
			if !ok {
				if d != DropNone {
					got = append(got, d)
				}
				break
			}
			got = append(got, d)
		}
		if !reflect.DeepEqual(got, tc.entries) && len(got)+len(tc.entries) > 0 {
			t.Errorf("%s: entries %v, want %v", tc.name, got, tc.entries)
		}
	}
}

// TestParseV0 reads a version 0 message as the kernel lays it out
// (ip_vs_sync_conn_v0): one plain entry and one with the sequence
// options in host (little-endian) order.
func TestParseV0(t *testing.T) {
	msg := pcaptest.Hex(`
		02 07 004c                        # 2 conns, syncid 7, size 76
		00 06 9c40 0050 1f90 0a000001 0a000164 0a000214 0000 0003   # TCP NAT, state 3
		00 11 1000 0035 0035 0a000002 0a000164 0a000215 0600 0001   # UDP with both seq flags
		e8030000 04000000 00000000 d0070000 00000000 00000000`)
	var r Reader
	if k, d := r.Reset(msg, 7); k != KindConnsV0 || d != DropNone {
		t.Fatalf("reset %v %v", k, d)
	}
	var c Conn
	if ok, d := r.Next(&c); !ok || d != DropNone || c.Protocol != 6 || c.CPort != 40000 || c.DPort != 8080 ||
		c.CAddr != conn4.CAddr || c.VAddr != conn4.VAddr || c.DAddr != conn4.DAddr || c.State != 3 || c.HasSeq {
		t.Errorf("first entry %+v (%v %v)", c, ok, d)
	}
	if ok, d := r.Next(&c); !ok || d != DropNone || c.Protocol != 17 || c.Flags != FlagSeqMask || !c.HasSeq ||
		c.InSeq != (Seq{1000, 4, 0}) || c.OutSeq != (Seq{2000, 0, 0}) || c.State != 1 {
		t.Errorf("second entry %+v (%v %v)", c, ok, d)
	}
	if ok, _ := r.Next(&c); ok {
		t.Errorf("a third entry")
	}
	msg[0] = 3
	r.Reset(msg, 0)
	r.Next(&c)
	r.Next(&c)
	if ok, d := r.Next(&c); ok || d != DropTruncated {
		t.Errorf("count past the end: %v %v", ok, d)
	}
}

func TestExtRoundTrip(t *testing.T) {
	x := Ext{Op: OpResyncBegin, Nonce: 0xdeadbeef, Count: 100000, Rate: 50000}
	msg := AppendExt(nil, 4, x)
	var r Reader
	if k, d := r.Reset(msg, 4); k != KindExtension || d != DropNone {
		t.Fatalf("reset %v %v", k, d)
	}
	got, err := ParseExt(r.Extension())
	if err != nil || got != x {
		t.Errorf("got %+v %v, want %+v", got, err, x)
	}
	if ok, _ := r.Next(new(Conn)); ok {
		t.Errorf("an extension message yielded an entry")
	}
	for i := HeaderLen; i < HeaderLen+8; i++ {
		bad := bytes.Clone(msg)
		bad[i] ^= 0x80
		if i == HeaderLen+4 {
			bad[i] = 9
		}
		if _, err := ParseExt(bad[HeaderLen:]); err == nil {
			t.Errorf("byte %d changed, still parsed", i)
		}
	}
}

func TestDropLabels(t *testing.T) {
	labeltest.Check(t, NumDrops, []string{"none", "short", "size", "syncid", "version", "truncated", "entry_version",
		"family", "option", "mandatory_option", "pe_data", "extension", "protocol", "state"}, true)
}

// FuzzParse: the reader never panics and never reads past the message,
// and what it decodes from an encoder's message is what went in.
func FuzzParse(f *testing.F) {
	f.Add(encode(f, 0, 0, conn4, connOpts, conn6), uint8(0))
	f.Add(AppendExt(nil, 1, Ext{Op: OpResyncRequest}), uint8(1))
	f.Add(pcaptest.Hex("01000018 00060001 00020003 0a000001 0a000002 0a000003 00000000"), uint8(0))
	f.Fuzz(func(t *testing.T, msg []byte, syncID uint8) {
		var r Reader
		k, d := r.Reset(msg, syncID)
		if d != DropNone {
			return
		}
		if k == KindExtension {
			ParseExt(r.Extension())
			return
		}
		e := NewEncoder(MaxMaxLen, syncID)
		var want []Conn
		for range 256 {
			var c Conn
			ok, d := r.Next(&c)
			if !ok {
				break
			}
			if d != DropNone || k != KindConns {
				continue
			}
			// Re-encode what was read (only what the encoder can say:
			// an IPv6 type with IPv4-mapped bytes stays IPv6).
			c.PEData, c.PEName = bytes.Clone(c.PEData), bytes.Clone(c.PEName)
			if ok, err := e.Add(&c); ok && err == nil {
				c.Flags &^= FlagHashed // never sent, as the kernel
				want = append(want, c)
			}
		}
		var r2 Reader
		if _, d := r2.Reset(bytes.Clone(e.Bytes()), syncID); d != DropNone {
			t.Fatalf("re-encoded message refused: %v", d)
		}
		for i, w := range want {
			var c Conn
			if ok, d := r2.Next(&c); !ok || d != DropNone {
				t.Fatalf("re-encoded entry %d: %v %v", i, ok, d)
			}
			if !reflect.DeepEqual(c.PEData, w.PEData) && len(c.PEData)+len(w.PEData) > 0 {
				t.Fatalf("entry %d PE data %x, want %x", i, c.PEData, w.PEData)
			}
			c.PEData, c.PEName, w.PEData, w.PEName = nil, nil, nil, nil
			if !reflect.DeepEqual(c, w) {
				t.Fatalf("entry %d\n got %+v\nwant %+v", i, c, w)
			}
		}
	})
}
