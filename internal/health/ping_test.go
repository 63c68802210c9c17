package health

import (
	"encoding/hex"
	"testing"
)

// TestEchoRequestBytes pins the PING_CHECK request to the bytes the
// hand-written builder sent before echoRequest used header.EncodeEcho.
func TestEchoRequestBytes(t *testing.T) {
	for _, tc := range []struct {
		id, seq uint16
		data    string
		want    string
	}{
		{0x1234, 7, "ulvs PING_CHECK", "0800755b12340007756c76732050494e475f434845434b"},
		{0xfffe, 0xffff, "ulvs PING_CHECKx", "0800871ffffeffff756c76732050494e475f434845434b78"},
	} {
		if got := hex.EncodeToString(echoRequest(tc.id, tc.seq, []byte(tc.data))); got != tc.want {
			t.Errorf("echoRequest(%#x, %d, %q) = %s, want %s", tc.id, tc.seq, tc.data, got, tc.want)
		}
	}
}
