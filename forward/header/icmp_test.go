package header

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestEncodeEcho compares EncodeEcho with gopacket's independent ICMPv4
// encoder, and pins two messages byte for byte: the PING_CHECK request as
// internal/health sent it before it used EncodeEcho.
func TestEncodeEcho(t *testing.T) {
	for _, tc := range []struct {
		typ      uint8
		id, seq  uint16
		data     string
		wantHex  string // "" to compare with gopacket only
		wantType layers.ICMPv4TypeCode
	}{
		{ICMPEcho, 0x1234, 7, "ulvs PING_CHECK", "0800755b12340007756c76732050494e475f434845434b", layers.ICMPv4TypeEchoRequest << 8},
		{ICMPEcho, 0xfffe, 0xffff, "ulvs PING_CHECKx", "0800871ffffeffff756c76732050494e475f434845434b78", layers.ICMPv4TypeEchoRequest << 8},
		{ICMPEchoReply, 1, 2, "", "", layers.ICMPv4TypeEchoReply << 8},
		{ICMPEcho, 0, 0, "\xff\xff\xff\xff\xff\xff\xf7", "", layers.ICMPv4TypeEchoRequest << 8},
		{ICMPEchoReply, 0xf7ff, 0, "", "", layers.ICMPv4TypeEchoReply << 8},
	} {
		b := make([]byte, ICMPHeaderLen+len(tc.data))
		copy(b[ICMPHeaderLen:], tc.data)
		b[icmpChecksum] = 0xaa // EncodeEcho must not sum a stale checksum
		m := ICMPv4(b)
		m.EncodeEcho(tc.typ, tc.id, tc.seq)

		buf := gopacket.NewSerializeBuffer()
		err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true},
			&layers.ICMPv4{TypeCode: tc.wantType, Id: tc.id, Seq: tc.seq}, gopacket.Payload(tc.data))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, buf.Bytes()) {
			t.Errorf("type %d id %#x seq %d: EncodeEcho wrote\n%x\ngopacket encodes\n%x", tc.typ, tc.id, tc.seq, b, buf.Bytes())
		}
		if tc.wantHex != "" && hex.EncodeToString(b) != tc.wantHex {
			t.Errorf("type %d id %#x seq %d: EncodeEcho wrote\n%x\nwant\n%s", tc.typ, tc.id, tc.seq, b, tc.wantHex)
		}
		if !m.IsChecksumValid() || m.Type() != tc.typ || m.Code() != 0 || m.EchoID() != tc.id || m.EchoSeq() != tc.seq {
			t.Errorf("type %d id %#x seq %d: reads back as type %d code %d id %#x seq %d, checksum valid %v",
				tc.typ, tc.id, tc.seq, m.Type(), m.Code(), m.EchoID(), m.EchoSeq(), m.IsChecksumValid())
		}
	}
}
