package afpacket

import (
	"testing"
	"time"
)

// BenchmarkTxRx streams minimum-size frames from one port's TX (batches of
// 64, one Flush each) to another port's RX on a second goroutine across a
// veth pair. ns/op is wall time per frame with both ends running; the
// receiver's drops (RX ring or socket queue full) are reported, since the
// sender is not paced.
func BenchmarkTxRx(b *testing.B) {
	const batch = 64
	for _, bm := range []struct {
		name  string
		plain bool
		cfg   Config
	}{
		{name: "ring-v2tx", cfg: Config{TxVersion: 2}},
		{name: "ring-v3tx", cfg: Config{TxVersion: 3}},
		{name: "plain", plain: true},
	} {
		b.Run(bm.name, func(b *testing.B) {
			p := newPair(b)
			txCfg, rxCfg := bm.cfg, bm.cfg
			txCfg.NoRX, rxCfg.NoTX = true, true
			rxCfg.PollTimeout = time.Second
			var tx, rx Conn
			if bm.plain {
				tx, rx = openPlain(b, p.ns1, "a0", &txCfg), openPlain(b, p.ns2, "b0", &rxCfg)
			} else {
				tx, rx = openRing(b, p.ns1, "a0", &txCfg), openRing(b, p.ns2, "b0", &rxCfg)
			}
			frame := expFrame(p.macB, p.macA, 1, 60)
			done := make(chan int)
			b.ReportAllocs()
			b.ResetTimer()
			go func() { // receiver: counts until all frames or 200 ms of silence
				frames := make([]Frame, 256)
				got, idle := 0, time.Now()
				for got < b.N && time.Since(idle) < 200*time.Millisecond {
					n, err := rx.Receive(frames)
					if err != nil {
						break
					}
					if n > 0 {
						got += n
						idle = time.Now()
					}
					rx.Release()
				}
				done <- got
			}()
			for sent := 0; sent < b.N; {
				for range min(batch, b.N-sent) {
					if buf := tx.TxSlot(); buf != nil {
						tx.Commit(copy(buf, frame))
						sent++
					}
				}
				if err := tx.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			got := <-done
			b.StopTimer()
			el := b.Elapsed().Seconds()
			if el > 0 {
				b.ReportMetric(float64(got)/el/1e6, "Mpps")
			}
			if st := rx.Stats(); st.RingDrops > 0 {
				b.ReportMetric(float64(st.RingDrops), "ringdrops")
			}
		})
	}
}
