package lvssync

import "time"

// Pacer is a token bucket in entries: a bulk resync sends a message
// when the bucket holds its entries, so a table of any size leaves at
// rate entries a second with bursts of at most burst.
type Pacer struct {
	rate   float64 // tokens a second
	burst  float64
	tokens float64
	last   time.Time
}

// NewPacer returns a full bucket at now.
func NewPacer(rate, burst int, now time.Time) *Pacer {
	return &Pacer{rate: float64(max(rate, 1)), burst: float64(max(burst, 1)), tokens: float64(max(burst, 1)), last: now}
}

// Reserve takes n tokens at now and returns how long to wait before
// sending what they pay for: 0 while the bucket has them. A reservation
// larger than the burst goes into debt, paid for by the wait.
func (p *Pacer) Reserve(now time.Time, n int) time.Duration {
	if el := now.Sub(p.last); el > 0 {
		p.tokens = min(p.burst, p.tokens+el.Seconds()*p.rate)
		p.last = now
	}
	p.tokens -= float64(n)
	if p.tokens >= 0 {
		return 0
	}
	return time.Duration(-p.tokens / p.rate * float64(time.Second))
}
