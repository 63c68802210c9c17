// Package bfd implements Bidirectional Forwarding Detection: RFC 5880's
// asynchronous mode over RFC 5881's single-hop UDP encapsulation (and
// RFC 5883's multihop port, as keepalived's bfd_instance offers it), so
// that a real server or router running a BFD peer (FRR's bfdd, a
// switch, keepalived) can take a real server out of service within the
// detection time, tens of milliseconds, instead of a health check's
// seconds.
//
// # Layers
//
//   - Control is the control packet as a []byte view; Parse runs the
//     checks of RFC 5880 section 6.8.6 that need no session, each drop
//     with a typed reason (Drop). Fields and AppendControl build packets.
//   - Machine is one session's state machine (AdminDown, Down, Init, Up)
//     and timers as a value: methods take the current time and return
//     Actions; Deadline says when to Tick. It negotiates the intervals
//     (desired min TX, required min RX, detect multiplier), runs the
//     poll/final sequence when its intervals change, sends at one packet
//     a second or slower while not Up, and jitters every interval.
//   - Router runs sessions over UDP sockets: the listeners on port 3784
//     (4784 for multihop) that demultiplex by discriminator or by
//     address, a sender socket per session bound to a source port in
//     49152-65535 with TTL (hop limit) 255, and the receive TTL check of
//     RFC 5881 (GTSM), relaxed by max_hops as in keepalived.
//
// # Not supported
//
// Authentication (RFC 5880 section 6.7) is not: a packet with the A bit
// set is dropped (DropAuth), as keepalived does; sessions are meant for
// directly connected peers. Demand mode is never asked for, though a
// peer's demand request is honoured (periodic packets stop while both
// ends are Up). The Echo function is not offered (Required Min Echo RX
// Interval 0).
package bfd
