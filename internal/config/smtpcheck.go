package config

// DefaultSMTPHelo is the HELO name of SMTP_CHECK when helo_name is not
// set (keepalived's SMTP_DEFAULT_HELO).
const DefaultSMTPHelo = "smtpchecker.keepalived.org"

// SMTPCheck is the SMTP_CHECK specific part of a Check.
type SMTPCheck struct {
	// HeloName is sent in HELO (helo_name).
	HeloName string
}

// connectionKeys are the checker keywords that set where a probe goes
// from and to; SMTP_CHECK uses them to decide whether the block's own
// target is checked when it also has host blocks.
var connectionKeys = map[string]bool{"connect_ip": true, "connect_port": true, "bindto": true, "bind_port": true,
	"bind_if": true, "connect_timeout": true, "fwmark": true}

var smtpCheckTable = commonCheckKeys(newTable("SMTP_CHECK", func(*checkState, *Node) {})).
	add(noBlock, func(d *decoder, n *Node, s *checkState) {
		if d.args(n, 1, 1, `helo_name NAME (or "NAME")`) {
			s.c.SMTP.HeloName = n.Args[0]
		}
	}, "helo_name").
	add(needBlock, func(_ *decoder, n *Node, s *checkState) { s.hosts = append(s.hosts, n) }, "host")

// smtpHostTable is a host block: another target for the same dialogue.
var smtpHostTable = commonCheckKeys(newTable("host", func(*checkState, *Node) {}))

// smtpChecks decodes an SMTP_CHECK block into one Check per target. As in
// keepalived, each (deprecated) host { } block is a checker of its own,
// with the block's settings and the host's connection keywords; the
// block's own target (the real server, or its connect_ip/connect_port)
// is checked too, unless the block has host blocks and sets no
// connection keyword itself, in which case the hosts are the targets.
func (d *decoder) smtpChecks(n *Node, rs *RealServer, def *checkDefaults) []*Check {
	s, t := d.newCheck(n, def)
	errsBefore := len(d.errs)
	decodeBlock(d, t, n, s)
	if d.strict && len(d.errs) > errsBefore {
		return nil // the load fails: spare the follow-on messages
	}
	main := *s
	var out []*Check
	own := len(s.hosts) == 0
	for _, c := range n.Children {
		own = own || connectionKeys[c.Keyword]
	}
	if own {
		if c := d.finishCheck(n, rs, s); c != nil {
			out = append(out, c)
		}
	}
	for _, h := range s.hosts {
		c := *main.c
		c.Pos = h.Pos
		hs := &checkState{c: &c, def: main.def, retrySet: main.retrySet, dbrSet: main.dbrSet, warmSet: main.warmSet}
		errsBefore := len(d.errs)
		decodeBlock(d, smtpHostTable, h, hs)
		if d.strict && len(d.errs) > errsBefore {
			continue
		}
		if c := d.finishCheck(h, rs, hs); c != nil {
			out = append(out, c)
		}
	}
	return out
}
