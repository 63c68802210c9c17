package inspect

import (
	"fmt"
	"time"
)

// Sampled is a frame `ulvs trace` sampled from a running director: the
// bytes before and after and the decision's names, as the admin API
// streams them.
type Sampled struct {
	Packet int
	Time   time.Time
	// Side and AfterSide are IfaceClient or IfaceReals.
	Side      string
	Before    []byte
	BeforeLen int
	// BeforeRewritten says Before was copied after the in-place rewrite.
	BeforeRewritten bool
	After           []byte
	AfterLen        int
	AfterSide       string
	Generated       bool
	// Drop is the drop reason's name, empty when forwarded.
	Drop                             string
	Service, Scheduler, Real, Method string
}

// SampledRewrite builds the Rewrite of a sampled frame, decoded and
// marked as ulvs inspect does, so that Printer, the JSON encoding and
// PcapngWriter show it the same way. Frames cut short by the trace's
// snap length say so in the decision.
func SampledRewrite(s Sampled) Rewrite {
	rw := Rewrite{Packet: s.Packet, Mode: "config", Time: s.Time, Drop: s.Drop}
	rw.Before = decodeFrame(s.Before, s.Side, "in")
	d := &rw.Decision
	d.Service, d.Scheduler, d.Real, d.Method = s.Service, s.Scheduler, s.Real, s.Method
	if len(s.After) > 0 {
		f := decodeFrame(s.After, s.AfterSide, "out")
		if s.Generated {
			f.Generated = true
		} else {
			diff(&rw.Before, &f)
		}
		rw.After = append(rw.After, f)
	}
	switch {
	case s.Drop != "":
		d.Kind = "dropped"
		d.Why = "the director dropped the frame: " + s.Drop
		if w := balancerDropWhy(s.Drop); w != s.Drop {
			d.Why = w
		}
	case s.Side == IfaceReals:
		d.Kind = "NAT reply"
		d.Why = "a reply from the real server of a NAT connection: its source goes back to the VIP"
	default:
		d.Kind = "to real server"
		d.Why = "a frame for a virtual service, sent to the real server its connection (or the scheduler) names"
	}
	if s.BeforeRewritten {
		d.Why += " (the frame before was copied after the in-place rewrite)"
	}
	if s.BeforeLen > len(s.Before) || s.AfterLen > len(s.After) {
		d.Why += fmt.Sprintf(" (frames cut to the trace's snap length: %d of %d bytes before; checksums over the missing bytes cannot be checked)", len(s.Before), s.BeforeLen)
	}
	if len(rw.After) > 0 && !s.Generated {
		d.Change = changeSummary(&rw.Before, &rw.After[0])
	} else if s.Generated {
		d.Change = "ICMP error built by the director and sent back to the client"
	}
	return rw
}
