package health

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
)

// DNS is DNS_CHECK: one query over UDP; up when the answer carries the
// query's ID and question, no error code, and at least one answer.
type DNS struct {
	Target netip.AddrPort
	Bind   netip.AddrPort
	Type   uint16
	Name   string
}

// Probe sends the query and checks the reply.
func (q *DNS) Probe(ctx context.Context) Result {
	c, err := dial(ctx, "udp", q.Bind, q.Target)
	if err != nil {
		return Result{Err: err, Weight: -1}
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	id := uint16(rand.Uint32())
	query, err := dnsQuery(id, q.Name, q.Type)
	if err != nil {
		return Result{Err: err, Weight: -1}
	}
	if _, err := c.Write(query); err != nil {
		return Result{Err: err, Weight: -1}
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return Result{Err: fmt.Errorf("no DNS answer: %w", err), Weight: -1}
		}
		reply := buf[:n]
		if len(reply) < 12 || binary.BigEndian.Uint16(reply) != id {
			continue // stray or spoofed datagram; keep waiting
		}
		return Result{Err: checkDNSReply(reply, query), Weight: -1}
	}
}

// dnsQuery builds a recursive query for name and type.
func dnsQuery(id uint16, name string, qtype uint16) ([]byte, error) {
	b := make([]byte, 12, 12+len(name)+6)
	binary.BigEndian.PutUint16(b, id)
	binary.BigEndian.PutUint16(b[2:], 0x0100) // RD
	binary.BigEndian.PutUint16(b[4:], 1)      // QDCOUNT
	name = strings.TrimSuffix(name, ".")
	if name != "" {
		for _, l := range strings.Split(name, ".") {
			if l == "" || len(l) > 63 {
				return nil, fmt.Errorf("bad DNS name %q", name)
			}
			b = append(b, byte(len(l)))
			b = append(b, l...)
		}
	}
	b = append(b, 0, byte(qtype>>8), byte(qtype), 0, 1) // class IN
	return b, nil
}

// checkDNSReply validates an answer to query (same ID already checked).
func checkDNSReply(reply, query []byte) error {
	flags := binary.BigEndian.Uint16(reply[2:])
	switch {
	case flags&0x8000 == 0:
		return errors.New("DNS reply without the QR bit")
	case flags&0x000f != 0:
		return fmt.Errorf("DNS reply code %d", flags&0x000f)
	case binary.BigEndian.Uint16(reply[4:]) != 1:
		return errors.New("DNS reply does not carry one question")
	}
	q := query[12:]
	if len(reply) < 12+len(q) || !strings.EqualFold(string(reply[12:12+len(q)]), string(q)) {
		return errors.New("DNS reply answers a different question")
	}
	if binary.BigEndian.Uint16(reply[6:]) == 0 {
		return errors.New("DNS reply has no answers")
	}
	return nil
}
