package conntrack

import "time"

// epoch anchors Now; Ticks count milliseconds since the process started,
// read from the monotonic clock.
var epoch = time.Now()

// Now returns the current Tick. The packet loop calls it once per batch.
func Now() Tick { return Tick(time.Since(epoch) / time.Millisecond) }
