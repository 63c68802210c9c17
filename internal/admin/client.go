package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/ulvs/ulvs/internal/status"
)

// Client talks to a director's admin socket.
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	return &Client{path: path, hc: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}
}

func (c *Client) do(method, path string, q url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := "http://ulvs" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin socket %s: %w (is ulvs running? set --admin-socket to its admin_socket)", c.path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("admin API: %s", resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Status returns the director's services, real servers and counters.
func (c *Client) Status() (*status.Snapshot, error) {
	var s status.Snapshot
	return &s, c.do("GET", PathStatus, nil, nil, &s)
}

// Conns lists up to limit connection entries (0: all).
func (c *Client) Conns(limit int) ([]status.Conn, error) {
	var cs []status.Conn
	return cs, c.do("GET", PathConns, url.Values{"limit": {fmt.Sprint(limit)}}, nil, &cs)
}

// Reload makes the director reread its configuration file.
func (c *Client) Reload() error { return c.do("POST", PathReload, nil, nil, nil) }

// Zero zeroes the counters of service (PROTO:ADDR:PORT), or of all
// services when it is empty.
func (c *Client) Zero(service string) error {
	var q url.Values
	if service != "" {
		q = url.Values{"service": {service}}
	}
	return c.do("POST", PathZero, q, nil, nil)
}

// Service adds, edits or deletes a service (op add, edit, delete).
func (c *Client) Service(op string, spec ServiceSpec) error {
	return c.do("POST", PathService, url.Values{"op": {op}}, spec, nil)
}

// Real adds, edits or deletes a real server (op add, edit, delete).
func (c *Client) Real(op string, spec RealSpec) error {
	return c.do("POST", PathReal, url.Values{"op": {op}}, spec, nil)
}

// SetWeight sets a real server's weight.
func (c *Client) SetWeight(service, real string, weight uint32) error {
	return c.Real("edit", RealSpec{Service: service, Real: real, Weight: &weight})
}

// Drain quiesces a real server and removes it when its connections are
// gone or the deadline passed (0: no deadline).
func (c *Client) Drain(service, real string, deadline time.Duration) error {
	q := url.Values{"service": {service}, "real": {real}}
	if deadline > 0 {
		q.Set("deadline", deadline.String())
	}
	return c.do("POST", PathDrain, q, nil, nil)
}
