package config

import (
	"net"
	"strings"
)

// Switch is a keepalived <BOOL> that may be left unset, to inherit a
// default (smtp_alert).
type Switch uint8

// The values of a Switch.
const (
	Unset Switch = iota
	On
	Off
)

// Or is the switch's value, or def when unset.
func (s Switch) Or(def bool) bool {
	if s == Unset {
		return def
	}
	return s == On
}

// orSwitch is the first set switch of s, else Unset.
func orSwitch(s ...Switch) Switch {
	for _, v := range s {
		if v != Unset {
			return v
		}
	}
	return Unset
}

// AlertDefaults are the global_defs switches of smtp_alert.
type AlertDefaults struct {
	All, VRRP, Checker Switch // smtp_alert, smtp_alert_vrrp, smtp_alert_checker
	// NoEmailFaults sends no mail for VRRP FAULT; NoCheckerEmails sends a
	// checker's mail only when its real server changes state.
	NoEmailFaults, NoCheckerEmails bool
}

// AlertRS reports whether a real server's checkers send mail: its
// smtp_alert, else smtp_alert_checker, else smtp_alert, else yes (a
// default keepalived keeps for backwards compatibility).
func (g *GlobalDefs) AlertRS(rs *RealServer) bool {
	return orSwitch(rs.SMTPAlert, g.Alerts.Checker, g.Alerts.All).Or(true)
}

// AlertVS reports whether a virtual server mails its quorum changes (no
// by default).
func (g *GlobalDefs) AlertVS(vs *VirtualServer) bool {
	return orSwitch(vs.SMTPAlert, g.Alerts.Checker, g.Alerts.All).Or(false)
}

// AlertVRRP reports whether an instance or sync group with switch s mails
// its state changes (no by default).
func (g *GlobalDefs) AlertVRRP(s Switch) bool {
	return orSwitch(s, g.Alerts.VRRP, g.Alerts.All).Or(false)
}

// SMTPServerHostPort is smtp_server as a host:port to dial (port 25 by
// default); "" when no server is set, and then no mail is sent.
func (g *GlobalDefs) SMTPServerHostPort() string {
	f := strings.Fields(g.SMTPServer)
	switch len(f) {
	case 0:
		return ""
	case 1:
		return net.JoinHostPort(f[0], "25")
	}
	return net.JoinHostPort(f[0], f[1])
}

// alertSwitch parses "smtp_alert [<BOOL>]" into dst.
func (d *decoder) alertSwitch(n *Node, dst *Switch) {
	if v, ok := d.optionalBool(n); ok {
		*dst = map[bool]Switch{true: On, false: Off}[v]
	}
}

// String is on, off or unset.
func (s Switch) String() string {
	switch s {
	case On:
		return "on"
	case Off:
		return "off"
	}
	return "unset"
}
