//go:build race

package balancer

// connPeekOK is off under the race detector: see conn_peek.go.
const connPeekOK = false

func (s *connShard) peekOut(uint64) (uint32, bool) { return 0, false }
