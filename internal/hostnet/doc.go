// Package hostnet reads and changes the host network facts a director
// depends on: interfaces, routes, sysctls, offloads and the nftables
// netdev-ingress rules that keep the kernel's own stack away from the traffic
// ulvs forwards. It is control-plane code: nothing here runs per packet.
package hostnet
