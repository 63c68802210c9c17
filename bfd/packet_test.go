package bfd

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"
)

// goldenFields is an Up packet opening a poll sequence: 50 ms desired TX,
// 100 ms required RX, multiplier 3.
var goldenFields = Fields{State: Up, Poll: true, DetectMult: 3, MyDisc: 0x11223344, YourDisc: 0x55667788,
	DesiredMinTx: 50 * time.Millisecond, RequiredMinRx: 100 * time.Millisecond}

// goldenHex is goldenFields as RFC 5880 section 4.1 lays it out: version
// 1 and diag 0; Sta 3 with P; mult 3; length 24; the discriminators; the
// intervals in microseconds (50000, 100000, 0).
const goldenHex = "20e00318" + "11223344" + "55667788" + "0000c350" + "000186a0" + "00000000"

func TestAppendControlGolden(t *testing.T) {
	got := AppendControl(nil, &goldenFields)
	if want, _ := hex.DecodeString(goldenHex); !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, f := range []Fields{
		goldenFields,
		{State: Down, Diag: DiagTimeExpired, DetectMult: 1, MyDisc: 1, DesiredMinTx: time.Second, RequiredMinRx: time.Microsecond},
		{State: Init, Final: true, Demand: true, DetectMult: 255, MyDisc: 0xffffffff, YourDisc: 7,
			DesiredMinTx: time.Hour * 2, RequiredMinRx: 0, RequiredMinEchoRx: 3 * time.Millisecond},
		{State: AdminDown, Diag: DiagAdminDown, DetectMult: 5, MyDisc: 9},
	} {
		c, drop := Parse(AppendControl(nil, &f))
		if drop != DropNone {
			t.Errorf("%+v: dropped (%v)", f, drop)
			continue
		}
		wantTx := min(f.DesiredMinTx, time.Duration(1<<32-1)*time.Microsecond) // saturates at the field's width
		got := Fields{State: c.State(), Diag: c.Diag(), Poll: c.Poll(), Final: c.Final(), Demand: c.Demand(),
			DetectMult: c.DetectMult(), MyDisc: c.MyDisc(), YourDisc: c.YourDisc(), DesiredMinTx: c.DesiredMinTx(),
			RequiredMinRx: c.RequiredMinRx(), RequiredMinEchoRx: c.RequiredMinEchoRx()}
		f.DesiredMinTx = wantTx
		if got != f {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, f)
		}
		if c.Version() != Version || c.Length() != HeaderLen || c.Auth() || c.CPI() || c.Multipoint() {
			t.Errorf("%+v: version %d length %d flags A%v C%v M%v", f, c.Version(), c.Length(), c.Auth(), c.CPI(), c.Multipoint())
		}
	}
}

func TestParse(t *testing.T) {
	golden, _ := hex.DecodeString(goldenHex)
	mod := func(fn func(b []byte) []byte) []byte {
		return fn(append([]byte(nil), golden...))
	}
	tests := []struct {
		name string
		in   []byte
		want Drop
		n    int // accepted length
	}{
		{"golden", golden, DropNone, 24},
		{"trailing bytes after Length are not the packet", append(append([]byte(nil), golden...), 1, 2, 3), DropNone, 24},
		{"short", golden[:23], DropShort, 0},
		{"version 0", mod(func(b []byte) []byte { b[0] &^= 0xe0; return b }), DropVersion, 0},
		{"version 2", mod(func(b []byte) []byte { b[0] = 2<<5 | b[0]&0x1f; return b }), DropVersion, 0},
		{"length below header", mod(func(b []byte) []byte { b[3] = 23; return b }), DropLength, 0},
		{"length beyond datagram", mod(func(b []byte) []byte { b[3] = 25; return b }), DropLength, 0},
		{"detect mult zero", mod(func(b []byte) []byte { b[2] = 0; return b }), DropDetectMult, 0},
		{"multipoint", mod(func(b []byte) []byte { b[1] |= flagMultipoint; return b }), DropMultipoint, 0},
		{"my disc zero", mod(func(b []byte) []byte { copy(b[4:8], []byte{0, 0, 0, 0}); return b }), DropMyDisc, 0},
		{"your disc zero while Up", mod(func(b []byte) []byte { copy(b[8:12], []byte{0, 0, 0, 0}); return b }), DropYourDisc, 0},
		{"your disc zero while Init", mod(func(b []byte) []byte {
			copy(b[8:12], []byte{0, 0, 0, 0})
			b[1] = byte(Init) << 6
			return b
		}), DropYourDisc, 0},
		{"your disc zero while Down is fine", mod(func(b []byte) []byte {
			copy(b[8:12], []byte{0, 0, 0, 0})
			b[1] = byte(Down) << 6
			return b
		}), DropNone, 24},
		{"your disc zero while AdminDown is fine", mod(func(b []byte) []byte {
			copy(b[8:12], []byte{0, 0, 0, 0})
			b[1] = byte(AdminDown) << 6
			return b
		}), DropNone, 24},
		{"auth", mod(func(b []byte) []byte { b[1] |= flagAuth; b[3] = 26; return append(b, 1, 2) }), DropAuth, 0},
		{"poll and final", mod(func(b []byte) []byte { b[1] |= flagFinal; return b }), DropPollFinal, 0},
		{"control plane independent is fine", mod(func(b []byte) []byte { b[1] |= flagCPI; return b }), DropNone, 24},
	}
	for _, tt := range tests {
		c, drop := Parse(tt.in)
		if drop != tt.want || len(c) != tt.n {
			t.Errorf("%s: got %v with %d bytes, want %v with %d", tt.name, drop, len(c), tt.want, tt.n)
		}
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Up.String(), "Up"}, {AdminDown.String(), "AdminDown"}, {State(4).String(), "State(4)"},
		{DiagTimeExpired.String(), "Control Detection Time Expired"}, {Diag(31).String(), "Diag(31)"},
		{DropTTL.String(), "ttl"}, {Drop(200).String(), "drop(200)"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if len(dropNames) != int(dropCount) {
		t.Errorf("%d drop names for %d reasons", len(dropNames), dropCount)
	}
}

func TestMicros(t *testing.T) {
	for _, tt := range []struct {
		in   time.Duration
		want uint32
	}{{0, 0}, {-time.Second, 0}, {999 * time.Nanosecond, 0}, {3312 * time.Microsecond, 3312}, {time.Hour * 2, 1<<32 - 1}} {
		if got := Micros(tt.in); got != tt.want {
			t.Errorf("Micros(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// FuzzParse: Parse never panics and never reads past what it returns,
// and an accepted packet re-encodes to its own first 24 bytes (but for
// the C bit, which we never send).
func FuzzParse(f *testing.F) {
	golden, _ := hex.DecodeString(goldenHex)
	f.Add(golden)
	f.Add(golden[:10])
	f.Add(AppendControl(nil, &Fields{State: Down, DetectMult: 1, MyDisc: 1}))
	f.Add(append(append([]byte(nil), golden...), 0xff))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, drop := Parse(b)
		if drop != DropNone {
			if c != nil {
				t.Fatalf("dropped (%v) but returned %d bytes", drop, len(c))
			}
			return
		}
		if len(c) < HeaderLen || len(c) > len(b) || len(c) != c.Length() {
			t.Fatalf("accepted %d bytes of %d with Length %d", len(c), len(b), c.Length())
		}
		f := Fields{State: c.State(), Diag: c.Diag(), Poll: c.Poll(), Final: c.Final(), Demand: c.Demand(),
			DetectMult: c.DetectMult(), MyDisc: c.MyDisc(), YourDisc: c.YourDisc(), DesiredMinTx: c.DesiredMinTx(),
			RequiredMinRx: c.RequiredMinRx(), RequiredMinEchoRx: c.RequiredMinEchoRx()}
		want := append([]byte(nil), c[:HeaderLen]...)
		want[1] &^= flagCPI
		want[3] = HeaderLen
		if got := AppendControl(nil, &f); !bytes.Equal(got, want) {
			t.Fatalf("re-encoded\n%x\nwant\n%x", got, want)
		}
	})
}
