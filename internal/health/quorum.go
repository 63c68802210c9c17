package health

// Quorum is a virtual server's quorum state (keepalived quorum and
// hysteresis): it is lost when the live weight drops below
// Need-Hysteresis and regained when it reaches Need+Hysteresis, so that a
// weight hovering around Need does not flap.
type Quorum struct {
	Need, Hysteresis uint64
	up               bool
}

// NewQuorum starts with quorum held when alive reaches need.
func NewQuorum(need, hysteresis, alive uint64) *Quorum {
	return &Quorum{Need: need, Hysteresis: hysteresis, up: alive >= need}
}

// Up reports whether the quorum is held.
func (q *Quorum) Up() bool { return q.up }

// Update feeds the current total weight of live servers and reports
// whether the state changed.
func (q *Quorum) Update(alive uint64) bool {
	switch {
	case q.up && alive+q.Hysteresis < q.Need:
		q.up = false
		return true
	case !q.up && alive >= q.Need+q.Hysteresis:
		q.up = true
		return true
	}
	return false
}

// Resume sets the state, so that a reload keeps the quorum it had.
func (q *Quorum) Resume(up bool) { q.up = up }
