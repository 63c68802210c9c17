package bfd

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Ports of RFC 5881 (single hop), RFC 5883 (multihop), and the source
// port range RFC 5881 section 4 requires.
const (
	Port         = 3784
	MultihopPort = 4784
	MinSrcPort   = 49152
	MaxSrcPort   = 65535
)

// HeaderLen is the mandatory part of a control packet; authentication
// sections follow it when the A bit is set.
const HeaderLen = 24

// Version is the protocol version RFC 5880 defines.
const Version = 1

// State is a session state (bfd.SessionState), as carried in the Sta
// field.
type State uint8

// The states, in their wire encoding.
const (
	AdminDown State = iota
	Down
	Init
	Up
)

var stateNames = [...]string{"AdminDown", "Down", "Init", "Up"}

// String returns RFC 5880's name of the state.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Diag is the diagnostic code: why the sender's session last left Up.
type Diag uint8

// The diagnostics of RFC 5880 section 4.1.
const (
	DiagNone Diag = iota
	DiagTimeExpired
	DiagEchoFailed
	DiagNeighborDown
	DiagForwardingReset
	DiagPathDown
	DiagConcatPathDown
	DiagAdminDown
	DiagReverseConcatPathDown
)

var diagNames = [...]string{"No Diagnostic", "Control Detection Time Expired", "Echo Function Failed",
	"Neighbor Signaled Session Down", "Forwarding Plane Reset", "Path Down", "Concatenated Path Down",
	"Administratively Down", "Reverse Concatenated Path Down"}

// String returns RFC 5880's name of the diagnostic.
func (d Diag) String() string {
	if int(d) < len(diagNames) {
		return diagNames[d]
	}
	return fmt.Sprintf("Diag(%d)", uint8(d))
}

// Flag bits of the second octet, after the two state bits.
const (
	flagPoll       = 0x20
	flagFinal      = 0x10
	flagCPI        = 0x08 // control plane independent
	flagAuth       = 0x04
	flagDemand     = 0x02
	flagMultipoint = 0x01
)

// Control is a BFD control packet as a view over its bytes. Its methods
// assume the length Parse checked.
type Control []byte

// Version is the protocol version (1).
func (c Control) Version() uint8 { return c[0] >> 5 }

// Diag is the sender's diagnostic code.
func (c Control) Diag() Diag { return Diag(c[0] & 0x1f) }

// State is the sender's session state.
func (c Control) State() State { return State(c[1] >> 6) }

// Poll is the P bit: the sender asks for a Final.
func (c Control) Poll() bool { return c[1]&flagPoll != 0 }

// Final is the F bit: the answer to a Poll.
func (c Control) Final() bool { return c[1]&flagFinal != 0 }

// CPI is the C bit: the sender's BFD does not share fate with its
// control plane.
func (c Control) CPI() bool { return c[1]&flagCPI != 0 }

// Auth is the A bit: an authentication section follows.
func (c Control) Auth() bool { return c[1]&flagAuth != 0 }

// Demand is the D bit: the sender asks us to stop periodic packets.
func (c Control) Demand() bool { return c[1]&flagDemand != 0 }

// Multipoint is the M bit, reserved for point-to-multipoint extensions.
func (c Control) Multipoint() bool { return c[1]&flagMultipoint != 0 }

// DetectMult is the sender's detection time multiplier.
func (c Control) DetectMult() uint8 { return c[2] }

// Length is the Length field: the whole packet, authentication included.
func (c Control) Length() int { return int(c[3]) }

// MyDisc is the sender's discriminator of the session.
func (c Control) MyDisc() uint32 { return binary.BigEndian.Uint32(c[4:]) }

// YourDisc is the discriminator the sender last heard from us, 0 if none.
func (c Control) YourDisc() uint32 { return binary.BigEndian.Uint32(c[8:]) }

// DesiredMinTx is the sender's Desired Min TX Interval.
func (c Control) DesiredMinTx() time.Duration { return usec(binary.BigEndian.Uint32(c[12:])) }

// RequiredMinRx is the sender's Required Min RX Interval; 0 means it
// wants no periodic packets.
func (c Control) RequiredMinRx() time.Duration { return usec(binary.BigEndian.Uint32(c[16:])) }

// RequiredMinEchoRx is the sender's Required Min Echo RX Interval.
func (c Control) RequiredMinEchoRx() time.Duration { return usec(binary.BigEndian.Uint32(c[20:])) }

func usec(v uint32) time.Duration { return time.Duration(v) * time.Microsecond }

// Micros converts an interval to the wire's microseconds, saturating.
func Micros(d time.Duration) uint32 {
	us := d / time.Microsecond
	switch {
	case us <= 0:
		return 0
	case us > 1<<32-1:
		return 1<<32 - 1
	}
	return uint32(us)
}

// Drop is why a received packet was discarded; Router counts them.
type Drop uint8

// The reasons, in the order RFC 5880 section 6.8.6 checks them, then
// the session-level ones.
const (
	DropNone       Drop = iota
	DropShort           // shorter than the mandatory header
	DropVersion         // version is not 1
	DropLength          // Length field below 24 or beyond the datagram
	DropDetectMult      // Detect Mult is zero
	DropMultipoint      // M bit set
	DropMyDisc          // My Discriminator is zero
	DropYourDisc        // Your Discriminator zero while State is Init or Up
	DropAuth            // A bit set: authentication is not supported
	DropPollFinal       // both P and F set
	DropTTL             // TTL/hop limit below what the session requires (GTSM)
	DropNoSession       // no session matches the discriminator or addresses
	DropAdminDown       // the session is AdminDown
	dropCount
)

var dropNames = [...]string{"none", "short", "version", "length", "detect_mult", "multipoint", "my_disc",
	"your_disc", "auth", "poll_final", "ttl", "no_session", "admin_down"}

// String names the reason for metrics and logs.
func (d Drop) String() string {
	if int(d) < len(dropNames) {
		return dropNames[d]
	}
	return fmt.Sprintf("drop(%d)", uint8(d))
}

// Parse checks b, one UDP payload, as a control packet: the checks of
// RFC 5880 section 6.8.6 that need no session state. The returned view
// is b cut to the Length field.
func Parse(b []byte) (Control, Drop) {
	if len(b) < HeaderLen {
		return nil, DropShort
	}
	c := Control(b)
	if c.Version() != Version {
		return nil, DropVersion
	}
	n := c.Length()
	if n < HeaderLen || n > len(b) {
		return nil, DropLength
	}
	c = c[:n]
	switch {
	case c.DetectMult() == 0:
		return nil, DropDetectMult
	case c.Multipoint():
		return nil, DropMultipoint
	case c.MyDisc() == 0:
		return nil, DropMyDisc
	case c.YourDisc() == 0 && c.State() != Down && c.State() != AdminDown:
		return nil, DropYourDisc
	case c.Auth():
		return nil, DropAuth
	case c.Poll() && c.Final():
		// RFC 5880 6.5: a Final answers a Poll and is never sent with one.
		return nil, DropPollFinal
	}
	return c, DropNone
}

// Fields are the values of a control packet to build.
type Fields struct {
	State             State
	Diag              Diag
	Poll, Final       bool
	Demand            bool
	DetectMult        uint8
	MyDisc, YourDisc  uint32
	DesiredMinTx      time.Duration
	RequiredMinRx     time.Duration
	RequiredMinEchoRx time.Duration
}

// AppendControl appends the 24-byte packet f describes to b. It never
// sets the A, C or M bits.
func AppendControl(b []byte, f *Fields) []byte {
	var flags byte = byte(f.State&3) << 6
	if f.Poll {
		flags |= flagPoll
	}
	if f.Final {
		flags |= flagFinal
	}
	if f.Demand {
		flags |= flagDemand
	}
	b = append(b, Version<<5|byte(f.Diag&0x1f), flags, f.DetectMult, HeaderLen)
	b = binary.BigEndian.AppendUint32(b, f.MyDisc)
	b = binary.BigEndian.AppendUint32(b, f.YourDisc)
	b = binary.BigEndian.AppendUint32(b, Micros(f.DesiredMinTx))
	b = binary.BigEndian.AppendUint32(b, Micros(f.RequiredMinRx))
	return binary.BigEndian.AppendUint32(b, Micros(f.RequiredMinEchoRx))
}
