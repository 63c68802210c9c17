package vrrp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/ulvs/ulvs/internal/netns"
	"github.com/ulvs/ulvs/internal/netns/netnstest"
)

// TestRawTransportOnVeth sends an advertisement between two namespaces:
// the peer reads the exact bytes (TTL 255, TOS 0xc0), and the sender does
// not read its own multicast back.
func TestRawTransportOnVeth(t *testing.T) {
	a, b := netnstest.Pair(t, "eth0", "10.0.77.1/24", "eth0", "10.0.77.2/24")
	open := func(ns *netns.NS) *RawTransport {
		var tr *RawTransport
		if err := ns.Do(func() (err error) { tr, err = OpenRaw("eth0"); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	ta, tb := open(a), open(b)
	f := goldens[1].fields
	for _, dst := range []netip.Addr{Group, netip.MustParseAddr("10.0.77.2")} {
		pkt := make([]byte, 64)
		n := EncodePacket(pkt, &f, [4]byte{192, 168, 77, 1}, dst.As4(), 9, true)
		got := make(chan []byte, 1)
		go func() {
			buf := make([]byte, 1500)
			n, err := tb.ReadPacket(buf)
			if err == nil {
				got <- buf[:n]
			}
		}()
		deadline := time.After(3 * time.Second)
		var recv []byte
		for recv == nil {
			if err := ta.WritePacket(pkt[:n]); err != nil {
				t.Fatal(err)
			}
			select {
			case recv = <-got:
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				t.Fatalf("nothing received for %v", dst)
			}
		}
		if !bytes.Equal(recv, pkt[:n]) {
			t.Fatalf("to %v: received\n%x\nsent\n%x", dst, recv, pkt[:n])
		}
	}
	// Own multicast is not looped back.
	own := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 1500)
		if _, err := ta.ReadPacket(buf); err == nil {
			own <- struct{}{}
		}
	}()
	select {
	case <-own:
		t.Fatal("the sender read its own advertisement")
	case <-time.After(200 * time.Millisecond):
	}
	// Close unblocks a pending read.
	ta.Close()
	select {
	case <-own:
		t.Fatal("read returned a packet after Close")
	case <-time.After(100 * time.Millisecond):
	}
}
