//go:build !linux

package afpacket

import (
	"fmt"
	"runtime"
)

var errOS = fmt.Errorf("afpacket: AF_PACKET is not implemented on %s: %w", runtime.GOOS, ErrNotSupported)

// Features says which optional kernel features a port got.
type Features struct {
	IgnoreOutgoing bool
	QdiscBypass    bool
	RxVersion      int
	TxVersion      int
	VnetHdr        bool
}

// RingPort is the AF_PACKET ring Conn; it exists only on Linux.
type RingPort struct{ stub }

// PlainPort is the per-frame-syscall Conn; it exists only on Linux.
type PlainPort struct{ stub }

// Open fails: AF_PACKET exists only on Linux.
func Open(string, *Config) (*RingPort, error) { return nil, errOS }

// OpenPlain fails: AF_PACKET exists only on Linux.
func OpenPlain(string, *Config) (*PlainPort, error) { return nil, errOS }

type stub struct{}

func (stub) Receive([]Frame) (int, error) { return 0, errOS }
func (stub) Release()                     {}
func (stub) TxSlot() []byte               { return nil }
func (stub) Commit(int)                   {}
func (stub) Flush() error                 { return errOS }
func (stub) Stats() Stats                 { return Stats{} }
func (stub) Close() error                 { return nil }
func (stub) Features() Features           { return Features{} }
