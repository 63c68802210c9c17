package config

import (
	"os"
	"testing"
)

// BenchmarkParseMulti measures a full parse of a realistic file: reload
// latency is dominated by it for large configurations.
func BenchmarkParseMulti(b *testing.B) {
	data, err := os.ReadFile("testdata/multi.conf")
	if err != nil {
		b.Fatal(err)
	}
	opts := Options{ConfigID: "lb1"}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse("/etc/keepalived/keepalived.conf", data, opts); err != nil {
			b.Fatal(err)
		}
	}
}
