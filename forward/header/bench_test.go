package header

import "testing"

var sink16 uint16

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{20, 64, 576, 1500, 9000} {
		buf := make([]byte, n)
		b.Run(itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				sink16 = Checksum(buf, 0)
			}
		})
	}
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}
