package lvssync

import "testing"

// Internals for the external tests (package lvssync_test), which use
// lvssynctest and so cannot live in this package.
var (
	Conn4, Conn6, ConnOpts = conn4, conn6, connOpts
	EntryV4Len             = entryV4Len
)

func Encode(t testing.TB, syncID uint8, conns ...Conn) []byte { return encode(t, 0, syncID, conns...) }

// Datagrams is the sender's socket seam.
type Datagrams = datagrams

func NewSenderOn(cfg Config, out Datagrams, workers, ringSize int) *Sender {
	return newSender(cfg, out, workers, ringSize, quiet)
}

func (s *Sender) Drain() { s.drain() }

// Out is the sender's socket, for sending forged messages.
func (s *Sender) Out() Datagrams { return s.out }
