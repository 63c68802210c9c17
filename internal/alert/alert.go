// Package alert sends keepalived's smtp_alert e-mails: a real server
// going up or down, a virtual server gaining or losing its quorum, a VRRP
// instance or sync group changing state. Subjects and bodies are
// keepalived's (core/smtp.c and its callers), so that mail filters keep
// working. Sending is asynchronous: callers enqueue and return at once,
// one goroutine delivers, each step bounded by smtp_connect_timeout; a
// full queue drops the mail and counts it.
package alert

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/user"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ulvs/ulvs/balancer"
	"github.com/ulvs/ulvs/internal/config"
)

// Config is where and how mail goes.
type Config struct {
	// Server is host:port; empty disables sending, as do no recipients.
	Server   string
	Helo     string // smtp_helo_name; the host name by default
	Timeout  time.Duration
	From     string   // notification_email_from; user@host by default
	To       []string // notification_email
	RouterID string   // router_id; the host name by default
}

// FromGlobal returns the mail settings of global_defs with keepalived's
// defaults.
func FromGlobal(g *config.GlobalDefs) Config {
	host, _ := os.Hostname()
	c := Config{Server: g.SMTPServerHostPort(), Helo: g.SMTPHeloName, Timeout: g.SMTPConnectTimeout,
		From: g.NotificationEmailFrom, To: g.NotificationEmail, RouterID: g.RouterID}
	if c.Helo == "" {
		c.Helo = host
	}
	if c.RouterID == "" {
		c.RouterID = host
	}
	if c.From == "" {
		name := "root"
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		c.From = name + "@" + host
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	return c
}

// Enabled reports whether mail can be sent at all.
func (c *Config) Enabled() bool { return c.Server != "" && len(c.To) > 0 }

// QueueLen is how many mails can wait; more are dropped.
const QueueLen = 64

// Mail is one message.
type Mail struct {
	Subject, Body string
	Time          time.Time
}

// Mailer queues and delivers mail.
type Mailer struct {
	log   *slog.Logger
	cfg   atomic.Pointer[Config]
	queue chan Mail

	Sent, Failed, Dropped atomic.Uint64
}

// New returns a mailer with cfg; Run delivers its mail.
func New(cfg Config, log *slog.Logger) *Mailer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mailer{log: log, queue: make(chan Mail, QueueLen)}
	m.cfg.Store(&cfg)
	return m
}

// SetConfig replaces the settings (a reload); queued mail uses the new
// ones.
func (m *Mailer) SetConfig(cfg Config) {
	if m != nil {
		m.cfg.Store(&cfg)
	}
}

// Config returns the settings in force.
func (m *Mailer) Config() Config { return *m.cfg.Load() }

// Send queues a mail with the router_id prefix keepalived gives every
// subject. It never blocks; it reports false when the mail was dropped
// (queue full) or mail is not configured.
func (m *Mailer) Send(subject, body string) bool {
	if m == nil {
		return false
	}
	cfg := m.cfg.Load()
	if !cfg.Enabled() {
		return false
	}
	if cfg.RouterID != "" {
		subject = "[" + cfg.RouterID + "] " + subject
	}
	select {
	case m.queue <- Mail{Subject: subject, Body: body, Time: time.Now()}:
		return true
	default:
		if n := m.Dropped.Add(1); n == 1 || n%100 == 0 {
			m.log.Warn("alert mail dropped: the queue is full (is the SMTP server answering?)", "subject", subject, "dropped", n)
		}
		return false
	}
}

// drainTime bounds delivering what is queued at shutdown, so that the
// last state changes (VRRP "Stopping") still go out without holding the
// exit for long.
const drainTime = 5 * time.Second

// Run delivers queued mail until ctx ends, then what is left; a mail in
// flight when ctx ends is finished too, all within drainTime.
func (m *Mailer) Run(ctx context.Context) {
	if m == nil {
		return
	}
	life, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(drainTime, cancel) })
	defer stop()
	for {
		select {
		case ml := <-m.queue:
			m.deliver(life, ml)
			continue
		case <-ctx.Done():
		}
		break
	}
	for life.Err() == nil {
		select {
		case ml := <-m.queue:
			m.deliver(life, ml)
		default:
			return
		}
	}
}

func (m *Mailer) deliver(ctx context.Context, ml Mail) {
	cfg := m.cfg.Load()
	if !cfg.Enabled() {
		return
	}
	if err := send(ctx, cfg, ml); err != nil {
		m.Failed.Add(1)
		m.log.Warn("alert mail not sent", "server", cfg.Server, "subject", ml.Subject, "err", err)
		return
	}
	m.Sent.Add(1)
	m.log.Info("alert mail sent", "subject", ml.Subject)
}

// Trio formats a service or server address as keepalived does:
// [10.0.0.1]:tcp:80.
func Trio(ap netip.AddrPort, p balancer.Protocol) string {
	proto := "none"
	switch p {
	case balancer.TCP:
		proto = "tcp"
	case balancer.UDP:
		proto = "udp"
	case balancer.SCTP:
		proto = "sctp"
	}
	return fmt.Sprintf("[%s]:%s:%d", ap.Addr().Unmap(), proto, ap.Port())
}

// RealServer queues keepalived's real-server mail: the server's state
// after the change, and the checker's message (CheckerBody).
func (m *Mailer) RealServer(rs, vs string, up bool, body string) bool {
	return m.Send(fmt.Sprintf("Realserver %s of virtual server %s - %s", rs, vs, upDown(up)), body)
}

// VirtualServer queues a virtual server mail with keepalived's subject
// and the body given ("=> Shutting down <=").
func (m *Mailer) VirtualServer(vs string, up bool, body string) bool {
	return m.Send(fmt.Sprintf("Virtualserver %s - %s", vs, upDown(up)), body)
}

// Quorum queues the mail of a virtual server gaining or losing its
// quorum: need, hysteresis, the threshold crossed and the live weight.
func (m *Mailer) Quorum(vs string, up bool, need, hysteresis, threshold, alive uint64) bool {
	what := "Lost quorum"
	if up {
		what = "Gained quorum"
	}
	return m.VirtualServer(vs, up, fmt.Sprintf("=> %s %d+%d=%d <= %d <=", what, need, hysteresis, threshold, alive))
}

// VRRP queues the mail of a VRRP instance (group false) or sync group
// entering state (MASTER, BACKUP, FAULT or STOP); false when keepalived
// sends none for that state.
func (m *Mailer) VRRP(group bool, name, state string) bool {
	subj, body := vrrpText(group, state)
	if subj == "" {
		return false
	}
	kind := "VRRP Instance"
	if group {
		kind = "VRRP Group"
	}
	return m.Send(fmt.Sprintf("%s %s - %s", kind, name, subj), body)
}

func vrrpText(group bool, state string) (subject, body string) {
	switch state {
	case "MASTER", "BACKUP", "FAULT":
		subject = "Entering " + state + " state"
		switch {
		case group:
			body = "=> All VRRP group instances are now in " + state + " state <="
		case state == "MASTER":
			body = "=> VRRP Instance is now owning VRRP VIPs <="
		default:
			body = "=> VRRP Instance is no longer owning VRRP VIPs <="
		}
	case "STOP":
		subject, body = "Stopping", "=> VRRP Instance stopping <="
		if group {
			body = "=> All VRRP group instances are now stopping <="
		}
	}
	return subject, body
}

// CheckerBody is keepalived's body for a checker of kind going up or down
// (each checker words it its own way); detail is the failure, which only
// SMTP_CHECK puts in the mail, or BFD_CHECK's bfd_instance.
func CheckerBody(kind config.CheckKind, up bool, detail string) string {
	verdict := "failed"
	if up {
		verdict = "succeed"
	}
	switch kind {
	case config.CheckTCP:
		return "=> TCP CHECK " + verdict + " on service <="
	case config.CheckUDP:
		return "=> UDP CHECK " + verdict + " on service <="
	case config.CheckPing:
		return "=> ICMP CHECK " + verdict + " on service <="
	case config.CheckDNS:
		return "=> DNS_CHECK: " + verdict + " on service <="
	case config.CheckMisc:
		return "=> MISC CHECK " + verdict + " on service <="
	case config.CheckHTTP, config.CheckSSL:
		if !up {
			return "=> CHECK failed on service : HTTP/SSL request failed <="
		}
	case config.CheckBFD: // detail is the bfd_instance
		if up {
			verdict = "succeeded"
		}
		return "=> BFD CHECK " + detail + " " + verdict + " on service <="
	case config.CheckSMTP:
		if !up && detail != "" {
			return "=> CHECK failed on service : " + detail + " <="
		}
	}
	return "=> CHECK " + verdict + " on service <="
}

func upDown(up bool) string {
	if up {
		return "UP"
	}
	return "DOWN"
}

// oneLine keeps untrusted text (a server's reply in a checker's error)
// from adding header lines.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}
