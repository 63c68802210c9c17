// Command ulvs is a userspace Linux Virtual Server director: it reads a
// keepalived.conf and forwards traffic for its virtual services with NAT, DR
// or TUN over AF_PACKET sockets, without the ip_vs kernel module.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: ulvs <command> [flags]

commands:
  demo      build a namespace topology and show NAT, DR and TUN at work
  version   print the version
`

var version = "dev"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "version":
		fmt.Println("ulvs", version)
	case "demo":
		fmt.Fprintln(os.Stderr, "ulvs demo: the packet path has not landed yet; it arrives with the packet loop (issue 4)")
		os.Exit(1)
	default:
		fmt.Fprintf(os.Stderr, "ulvs: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}
