package bench

import (
	"fmt"
	"slices"
)

// DefaultRounds is Config.Rounds when Config.Interleave is set and Rounds
// is not.
const DefaultRounds = 30

// Pair is what Config.Interleave compares: a ulvs subject (A) against a
// null forwarder (B).
type Pair struct {
	A, B Subject
}

// interleavePairs returns the pairs an interleaved comparison measures for
// subjects: every ulvs mode against the null forwarder, and ulvs-tun also
// against null-ipip when that is one of the subjects.
func interleavePairs(subjects []Subject) []Pair {
	var out []Pair
	ipip := slices.ContainsFunc(subjects, func(s Subject) bool { return s.Kind() == NullIPIP })
	for _, s := range subjects {
		if !s.IsULVS() {
			continue
		}
		out = append(out, Pair{A: s, B: Null})
		if ipip && s.Kind() == ULVSTUN {
			out = append(out, Pair{A: s, B: NullIPIP})
		}
	}
	return out
}

// PairResult is one interleaved comparison: A and B ran at the same time,
// each on its own copy of the topology with its subject pinned to the same
// CPU, and the generator fed them in turns (slices), A then B then B then
// A, and so on. Each rate is the real servers' ingress rate over the
// middle half of a slice, when the subject forwards at its steady rate.
type PairResult struct {
	Name string  `json:"name"` // "A / B"
	A    Subject `json:"a"`
	B    Subject `json:"b"`
	// SliceSeconds is a slice's length, Rounds the number of A-B pairs.
	SliceSeconds float64 `json:"slice_seconds"`
	Rounds       int     `json:"rounds"`
	// APPS and BPPS are the delivered rates of every slice, in order;
	// APPS[i] and BPPS[i] are adjacent in time.
	APPS []float64 `json:"a_pps"`
	BPPS []float64 `json:"b_pps"`
	// MedianA and MedianB are the medians of APPS and BPPS.
	MedianA float64 `json:"median_a_pps"`
	MedianB float64 `json:"median_b_pps"`
	// Ratio is the median of APPS[i] / BPPS[i]; RatioQ1 and RatioQ3 are
	// that ratio's quartiles.
	Ratio   float64 `json:"ratio"`
	RatioQ1 float64 `json:"ratio_q1"`
	RatioQ3 float64 `json:"ratio_q3"`
}

// summarize fills the medians and the ratio's quartiles from the rates.
func (p *PairResult) summarize() {
	p.Name = fmt.Sprintf("%s / %s", p.A, p.B)
	p.Rounds = min(len(p.APPS), len(p.BPPS))
	p.MedianA, p.MedianB = median(p.APPS), median(p.BPPS)
	var r []float64
	for i := range p.Rounds {
		if p.BPPS[i] > 0 {
			r = append(r, p.APPS[i]/p.BPPS[i])
		}
	}
	slices.Sort(r)
	if len(r) == 0 {
		return
	}
	p.Ratio = median(r)
	p.RatioQ1, p.RatioQ3 = quantile(r, 0.25), quantile(r, 0.75)
}

// quantile returns the q-quantile of sorted v by linear interpolation.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}
