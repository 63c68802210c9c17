package pcaptest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestHex(t *testing.T) {
	got := Hex("00 01 # a comment\n\tff  # another\n")
	if !bytes.Equal(got, []byte{0, 1, 0xff}) {
		t.Errorf("got %x", got)
	}
}

func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.pcap")
	Write(t, path, [][]byte{make([]byte, 60), make([]byte, 70)})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// 24-byte file header, then a 16-byte record header per frame.
	if want := 24 + 16 + 60 + 16 + 70; len(b) != want || !bytes.Equal(b[:4], []byte{0xd4, 0xc3, 0xb2, 0xa1}) {
		t.Errorf("pcap of %d bytes starting %x, want %d bytes with the little-endian magic", len(b), b[:4], want)
	}
}
