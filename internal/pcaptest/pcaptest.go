// Package pcaptest has the two helpers golden-frame tests share: hex
// frames written with comments, and a pcap file for tshark to read.
package pcaptest

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Hex decodes hex digits, ignoring white space and # comments; it
// panics on anything else, as golden data is fixed.
func Hex(s string) []byte {
	var digits strings.Builder
	for line := range strings.Lines(s) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		panic(err)
	}
	return b
}

// Write writes Ethernet frames to a pcap file at path, a millisecond
// apart from a fixed time, so tshark's output is reproducible.
func Write(tb testing.TB, path string, frames [][]byte) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		tb.Fatal(err)
	}
	ts := time.Unix(1700000000, 0)
	for i, b := range frames {
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			tb.Fatal(err)
		}
	}
}
