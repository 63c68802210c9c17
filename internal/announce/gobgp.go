package announce

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/ulvs/ulvs/internal/config"
)

// defaultHoldTime is BGP's customary hold time.
const defaultHoldTime = 90 * time.Second

// GoBGP is the Speaker: a GoBGP server running in this process. It does
// not listen (ListenPort -1): the director always opens the sessions,
// so no port 179 is taken from the host. It installs nothing into the
// kernel: routes the neighbours send stay in GoBGP's table. (A global
// import policy that rejects them would reject our own paths as well.)
type GoBGP struct {
	log *slog.Logger
	srv *server.BgpServer

	mu        sync.Mutex
	neighbors map[netip.Addr]Neighbor
}

// StartGoBGP starts the server with local AS localAS and router id
// routerID (a valid IPv4 address).
func StartGoBGP(localAS uint32, routerID netip.Addr, log *slog.Logger) (*GoBGP, error) {
	lvl := &slog.LevelVar{}
	lvl.Set(slog.LevelWarn) // GoBGP's info lines are per message; ours say what matters
	srv := server.NewBgpServer(server.LoggerOption(log.With("component", "gobgp"), lvl))
	go srv.Serve()
	g := &GoBGP{log: log, srv: srv, neighbors: map[netip.Addr]Neighbor{}}
	ctx := context.Background()
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: localAS, RouterId: routerID.String(), ListenPort: -1,
	}}); err != nil {
		srv.Stop()
		return nil, fmt.Errorf("bgp: start: %w", err)
	}
	return g, nil
}

// SetNeighbors adds, replaces and removes peers; a neighbour whose
// settings are unchanged keeps its session.
func (g *GoBGP) SetNeighbors(ns []Neighbor) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	ctx := context.Background()
	want := map[netip.Addr]Neighbor{}
	for _, n := range ns {
		want[n.Addr] = n
	}
	for addr, old := range g.neighbors {
		if n, ok := want[addr]; ok && n == old {
			continue
		}
		if err := g.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: addr.String()}); err != nil {
			return fmt.Errorf("bgp: remove neighbor %v: %w", addr, err)
		}
		delete(g.neighbors, addr)
		g.log.Info("bgp: neighbor removed", "neighbor", addr)
	}
	for addr, n := range want {
		if _, ok := g.neighbors[addr]; ok {
			continue
		}
		if err := g.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peer(n)}); err != nil {
			return fmt.Errorf("bgp: add neighbor %v: %w", addr, err)
		}
		g.neighbors[addr] = n
		g.log.Info("bgp: neighbor added", "neighbor", addr, "remote_as", n.RemoteAS)
	}
	return nil
}

// peer is n as GoBGP's peer configuration.
func peer(n Neighbor) *api.Peer {
	hold := n.HoldTime
	if hold == 0 {
		hold = defaultHoldTime
	}
	port := uint32(n.Port)
	if port == 0 {
		port = 179
	}
	family := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if n.Addr.Is6() {
		family = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
	}
	return &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: n.Addr.String(), PeerAsn: n.RemoteAS, AuthPassword: n.Password},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          uint64(hold / time.Second),
			KeepaliveInterval: uint64(hold / 3 / time.Second),
			ConnectRetry:      max(1, uint64(hold/3/time.Second)),
		}},
		Transport: &api.Transport{RemotePort: port},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: family, Enabled: true}}},
	}
}

// path is p with next hop self: GoBGP puts its own session address in
// place of the unspecified next hop.
func path(p netip.Prefix) (*apiutil.Path, error) {
	nlri, err := bgp.NewIPAddrPrefix(p)
	if err != nil {
		return nil, fmt.Errorf("bgp: prefix %v: %w", p, err)
	}
	origin := bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)
	if p.Addr().Is4() {
		nh, err := bgp.NewPathAttributeNextHop(netip.IPv4Unspecified())
		if err != nil {
			return nil, err
		}
		return &apiutil.Path{Family: bgp.RF_IPv4_UC, Nlri: nlri, Attrs: []bgp.PathAttributeInterface{origin, nh}}, nil
	}
	mp, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv6_UC, []bgp.PathNLRI{{NLRI: nlri}}, netip.IPv6Unspecified())
	if err != nil {
		return nil, err
	}
	return &apiutil.Path{Family: bgp.RF_IPv6_UC, Nlri: nlri, Attrs: []bgp.PathAttributeInterface{origin, mp}}, nil
}

// Announce advertises p to every neighbour of its family.
func (g *GoBGP) Announce(p netip.Prefix) error {
	pa, err := path(p)
	if err != nil {
		return err
	}
	if _, err := g.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{pa}}); err != nil {
		return fmt.Errorf("bgp: announce %v: %w", p, err)
	}
	return nil
}

// Withdraw withdraws p.
func (g *GoBGP) Withdraw(p netip.Prefix) error {
	pa, err := path(p)
	if err != nil {
		return err
	}
	if err := g.srv.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{pa}}); err != nil {
		return fmt.Errorf("bgp: withdraw %v: %w", p, err)
	}
	return nil
}

// Neighbors reports each peer's session state and when it came up.
func (g *GoBGP) Neighbors() []NeighborStatus {
	var out []NeighborStatus
	_ = g.srv.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		st := NeighborStatus{State: "idle"}
		if p.Conf != nil {
			st.Addr, _ = netip.ParseAddr(p.Conf.NeighborAddress)
			st.RemoteAS = p.Conf.PeerAsn
		}
		if p.State != nil {
			st.State = sessionState(p.State.SessionState)
		}
		if st.State == "established" && p.Timers != nil && p.Timers.State != nil && p.Timers.State.Uptime != nil {
			st.Up = p.Timers.State.Uptime.AsTime()
		}
		out = append(out, st)
	})
	return out
}

func sessionState(s api.PeerState_SessionState) string {
	name, ok := strings.CutPrefix(s.String(), "SESSION_STATE_")
	if !ok || s == api.PeerState_SESSION_STATE_UNSPECIFIED {
		return "idle"
	}
	return strings.ToLower(name)
}

// Close ends every session (a NOTIFICATION Cease to each peer) and stops
// the server.
func (g *GoBGP) Close() error {
	return g.srv.StopBgp(context.Background(), &api.StopBgpRequest{})
}

// Neighbors converts the bgp block's neighbours.
func Neighbors(b *config.BGP) []Neighbor {
	out := make([]Neighbor, 0, len(b.Neighbors))
	for _, n := range b.Neighbors {
		out = append(out, Neighbor{Addr: n.Addr, RemoteAS: n.RemoteAS, HoldTime: n.HoldTime, Password: n.Password, Port: n.Port})
	}
	return out
}

// ModeOf is the bgp block's announce mode.
func ModeOf(b *config.BGP) Mode {
	if b.Announce == config.AnnounceAlways {
		return ModeAlways
	}
	return ModeHealthy
}

// RouterID is the configured router id or, without one, the address this
// host uses towards the first neighbour (a connected UDP socket asks the
// routing table; it sends nothing).
func RouterID(b *config.BGP) (netip.Addr, error) {
	if b.RouterID.IsValid() {
		return b.RouterID, nil
	}
	if len(b.Neighbors) == 0 {
		return netip.Addr{}, fmt.Errorf("bgp: no neighbor to derive router_id from; set router_id")
	}
	c, err := net.Dial("udp", net.JoinHostPort(b.Neighbors[0].Addr.String(), strconv.Itoa(179)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("bgp: no route to neighbor %v to derive router_id from: %w; set router_id", b.Neighbors[0].Addr, err)
	}
	defer c.Close()
	a := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	if !a.Is4() {
		return netip.Addr{}, fmt.Errorf("bgp: the address towards %v is %v, not IPv4; set router_id", b.Neighbors[0].Addr, a)
	}
	return a, nil
}
