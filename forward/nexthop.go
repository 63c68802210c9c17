package forward

import ()

// hopMemo remembers the MACs a worker resolved for a few destinations on
// one port, for as long as the port's neighbour cache keeps its version:
// NAT replies go to a handful of gateways or on-link clients, and a route
// walk plus a map lookup per frame is the largest part of resolving.
type hopMemo struct {
	version uint64
	n, next int
	dst     [8][4]byte
	mac     [8][6]byte
}

func (m *hopMemo) lookup(version uint64, dst [4]byte) ([6]byte, bool) {
	if version != m.version {
		m.version, m.n, m.next = version, 0, 0
		return [6]byte{}, false
	}
	for i := range m.dst[:m.n] {
		if m.dst[i] == dst {
			return m.mac[i], true
		}
	}
	return [6]byte{}, false
}

func (m *hopMemo) remember(dst [4]byte, mac [6]byte) {
	i := m.next
	m.next = (m.next + 1) % len(m.dst)
	m.n = max(m.n, i+1)
	m.dst[i], m.mac[i] = dst, mac
}

// resolveReal reads the MAC of the next hop towards rs's server on port out
// (the real-server side) into rs, as of the neighbour cache's version v. On
// a miss it counts the drop and, for an unresolved neighbour, asks for a
// resolution without waiting for it.
func (w *worker) resolveReal(out *Port, rs *realSlot, v uint64) bool {
	mac, ok := w.lookupHop(out, rs.ip)
	if !ok {
		return false
	}
	rs.mac, rs.macVersion, rs.macOK = mac, v, true
	return true
}

// resolveBack returns the MAC of the next hop towards dst on the client
// side, through the worker's memo of recent answers.
func (w *worker) resolveBack(dst [4]byte) ([6]byte, bool) {
	back := w.loop.cfg.Client
	version := back.Neigh.Version()
	if mac, ok := w.backHops.lookup(version, dst); ok {
		return mac, true
	}
	mac, ok := w.lookupHop(back, dst)
	if ok {
		w.backHops.remember(dst, mac)
	}
	return mac, ok
}

// lookupHop routes dst on port out and looks its next hop up in the port's
// neighbour cache. On a miss it counts the drop and, for an unresolved
// neighbour, asks for a resolution without waiting for it.
func (w *worker) lookupHop(out *Port, dst [4]byte) ([6]byte, bool) {
	hop, ok := out.NextHop(dst)
	if !ok {
		w.ctr.drop(DropNoRoute)
		return [6]byte{}, false
	}
	mac, ok := out.Neigh.Lookup(hop)
	if !ok {
		out.Neigh.Want(hop)
		w.ctr.drop(DropNeighMiss)
		return mac, false
	}
	return mac, true
}
