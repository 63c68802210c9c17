package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ulvs/ulvs/internal/inspect"
)

// inspectCmd is `ulvs inspect`: args are its flags and packet
// descriptions; the report goes to out.
func inspectCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, `usage: ulvs inspect [flags] [PACKET[; PACKET...]]

Runs packets through the ulvs data plane (parser, balancer, NAT/DR/TUN
rewriters) and shows the decision and every changed field and byte.

PACKET is e.g. 'tcp 10.0.1.2:40000 > 10.0.1.100:80 flags S len 100',
'udp 10.0.1.2:5000 > 10.0.1.100:53 len 40', 'icmp 10.0.1.2 > 10.0.1.100';
keywords: flags, len, ttl, nodf, type, code, mtu, quote PACKET.
Packets from a real server's address arrive on the real-server side.

flags:
`)
		fs.PrintDefaults()
	}
	var (
		req   inspect.Request
		reals multiFlag
	)
	fs.StringVar(&req.ConfigPath, "f", "", "keepalived.conf with the virtual servers (instead of --real)")
	fs.Var(&reals, "real", "real server ADDR:PORT[=WEIGHT] of the one service the first packet addresses (repeat for more)")
	fs.StringVar(&req.Sched, "sched", "wlc", "scheduler of the --real service")
	fs.StringVar(&req.Mode, "mode", "", "nat, dr, tun, or all (side by side); default: the config's methods (nat with --real)")
	fs.StringVar(&req.Read, "r", "", "read packets from a pcap or pcapng file (Ethernet)")
	fs.BoolVar(&req.JSON, "json", false, "print JSON instead of text")
	fs.StringVar(&req.PcapOut, "out", "", "also write the frames before and after, with comments, to this pcapng file")
	fs.StringVar(&req.Color, "color", "auto", "colour the changes: auto (on a terminal), always or never")
	fs.BoolVar(&req.NoHex, "no-hex", false, "leave the hex dumps out")
	fs.IntVar(&req.MTU, "mtu", 1500, "MTU of the real-server side (TUN needs 20 bytes of it)")
	fs.StringVar(&req.DirectorIP, "director-ip", "", "the director's address on the real-server side, the TUN outer source (default: the first real server's /24, host 1)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	req.Reals = reals
	req.Packets = strings.Join(fs.Args(), " ")
	err := inspect.Run(req, out)
	if errors.Is(err, inspect.ErrNothingToInspect) {
		fs.Usage()
	}
	return err
}
