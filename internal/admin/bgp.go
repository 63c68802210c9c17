package admin

import (
	"errors"
	"net/http"
	"time"
)

// The director drain of BGP route health injection.
const (
	PathBGPDrain   = "/v1/bgp/drain"   // POST: withdraw every route (the director keeps forwarding)
	PathBGPUndrain = "/v1/bgp/undrain" // POST: announce again what health allows
)

// Announcer is what a director with a BGP speaker adds to Control; the
// Handler serves the BGP paths when its Control implements it.
type Announcer interface {
	// BGPDrain withdraws every route and returns drain_time, how long
	// the routers take to move flows away; 0 when there is no BGP.
	BGPDrain() time.Duration
	BGPUndrain() error
}

// DrainReply is the answer to PathBGPDrain.
type DrainReply struct {
	// DrainTime is the bgp block's drain_time, in seconds: wait that long
	// before stopping the director.
	DrainTime float64 `json:"drain_time"`
}

var errNoAnnouncer = errors.New("this director has no bgp block: there are no routes to withdraw")

// handleBGP registers the BGP paths on mux.
func handleBGP(mux *http.ServeMux, c Control) {
	a, ok := c.(Announcer)
	mux.HandleFunc("POST "+PathBGPDrain, func(w http.ResponseWriter, r *http.Request) {
		if !ok {
			reply(w, nil, errNoAnnouncer)
			return
		}
		wait := a.BGPDrain()
		if wait == 0 {
			reply(w, nil, errNoAnnouncer)
			return
		}
		reply(w, DrainReply{DrainTime: wait.Seconds()}, nil)
	})
	mux.HandleFunc("POST "+PathBGPUndrain, func(w http.ResponseWriter, r *http.Request) {
		if !ok {
			reply(w, nil, errNoAnnouncer)
			return
		}
		reply(w, nil, a.BGPUndrain())
	})
}

// DrainDirector withdraws every BGP route of the director and returns
// how long to wait before stopping it.
func (c *Client) DrainDirector() (time.Duration, error) {
	var r DrainReply
	if err := c.do("POST", PathBGPDrain, nil, nil, &r); err != nil {
		return 0, err
	}
	return time.Duration(r.DrainTime * float64(time.Second)), nil
}

// UndrainDirector announces the director's routes again.
func (c *Client) UndrainDirector() error { return c.do("POST", PathBGPUndrain, nil, nil, nil) }
