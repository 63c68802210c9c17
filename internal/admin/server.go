package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/ulvs/ulvs/balancer"
)

// The API's endpoints. Reads are GET; every change is POST with a JSON
// body (or query parameters for the small ones).
const (
	PathStatus  = "/v1/status"  // GET: status.Snapshot
	PathConns   = "/v1/conns"   // GET ?limit=N: []status.Conn
	PathReload  = "/v1/reload"  // POST: reread the configuration file
	PathZero    = "/v1/zero"    // POST ?service=KEY (optional): zero counters
	PathService = "/v1/service" // POST ServiceSpec ?op=add|edit|delete
	PathReal    = "/v1/real"    // POST RealSpec ?op=add|edit|delete
	PathDrain   = "/v1/drain"   // POST ?service=KEY&real=ADDR:PORT&deadline=SECONDS
)

// errorBody is what every failed request returns, with a 4xx or 5xx code.
type errorBody struct {
	Error string `json:"error"`
}

// Handler returns the API's HTTP handler over c.
func Handler(c Control) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathStatus, func(w http.ResponseWriter, r *http.Request) {
		reply(w, c.Status(), nil)
	})
	mux.HandleFunc("GET "+PathConns, func(w http.ResponseWriter, r *http.Request) {
		limit := 0
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				reply(w, nil, fmt.Errorf("limit %q: write a count, 0 for all", s))
				return
			}
			limit = n
		}
		reply(w, c.Conns(limit), nil)
	})
	mux.HandleFunc("POST "+PathReload, func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, c.Reload())
	})
	mux.HandleFunc("POST "+PathZero, func(w http.ResponseWriter, r *http.Request) {
		if s := r.URL.Query().Get("service"); s != "" {
			k, err := ParseService(s)
			if err != nil {
				reply(w, nil, err)
				return
			}
			reply(w, nil, c.Zero(&k))
			return
		}
		reply(w, nil, c.Zero(nil))
	})
	mux.HandleFunc("POST "+PathService, func(w http.ResponseWriter, r *http.Request) {
		var spec ServiceSpec
		if err := decode(r, &spec); err != nil {
			reply(w, nil, err)
			return
		}
		switch op := r.URL.Query().Get("op"); op {
		case "add", "edit":
			reply(w, nil, c.SetService(spec, op == "add"))
		case "delete":
			k, err := ParseService(spec.Service)
			if err == nil {
				err = c.DeleteService(k)
			}
			reply(w, nil, err)
		default:
			reply(w, nil, fmt.Errorf("op %q: use add, edit or delete", op))
		}
	})
	mux.HandleFunc("POST "+PathReal, func(w http.ResponseWriter, r *http.Request) {
		var spec RealSpec
		if err := decode(r, &spec); err != nil {
			reply(w, nil, err)
			return
		}
		switch op := r.URL.Query().Get("op"); op {
		case "add", "edit":
			reply(w, nil, c.SetReal(spec, op == "add"))
		case "delete":
			k, ap, err := parsePair(spec.Service, spec.Real)
			if err == nil {
				err = c.DeleteReal(k, ap)
			}
			reply(w, nil, err)
		default:
			reply(w, nil, fmt.Errorf("op %q: use add, edit or delete", op))
		}
	})
	mux.HandleFunc("POST "+PathDrain, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		k, ap, err := parsePair(q.Get("service"), q.Get("real"))
		if err != nil {
			reply(w, nil, err)
			return
		}
		deadline := time.Duration(0)
		if s := q.Get("deadline"); s != "" {
			if deadline, err = parseSeconds(s); err != nil {
				reply(w, nil, err)
				return
			}
		}
		reply(w, nil, c.Drain(k, ap, deadline))
	})
	registerTrace(mux, c)
	handleBGP(mux, c)
	return mux
}

func parsePair(svc, real string) (balancer.ServiceKey, netip.AddrPort, error) {
	k, err := ParseService(svc)
	if err != nil {
		return k, netip.AddrPort{}, err
	}
	ap, err := ParseReal(real)
	return k, ap, err
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %v", err)
	}
	return nil
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(errorBody{Error: err.Error()})
		return
	}
	if v == nil {
		v = struct{}{}
	}
	json.NewEncoder(w).Encode(v)
}

// Server serves the API on a unix socket.
type Server struct {
	path string
	ln   net.Listener
	srv  *http.Server
	// stop cancels the requests' context: streams (trace) end on Close.
	stop context.CancelFunc
}

// Listen creates the socket at path with mode 0600, replacing a stale
// socket file left by a director that did not stop cleanly; it refuses to
// replace a socket another director still answers on.
func Listen(path string, c Control, log *slog.Logger) (*Server, error) {
	if conn, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		conn.Close()
		return nil, fmt.Errorf("admin socket %s: another ulvs answers on it; stop it or set admin_socket (or --admin-socket) to another path", path)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("admin socket %s: a file that is not a socket is in the way; remove it or choose another path", path)
		}
		os.Remove(path)
	}
	// The umask makes the socket 0600 from its creation, with no window
	// in which another user could connect.
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	base, stop := context.WithCancel(context.Background())
	s := &Server{path: path, ln: ln, stop: stop, srv: &http.Server{
		Handler:           Handler(c),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops serving and removes the socket file.
func (s *Server) Close() error {
	s.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	os.Remove(s.path)
	return err
}
