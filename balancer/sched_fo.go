package balancer

// fo is IPVS's weighted failover (ip_vs_fo.c): every new connection goes to
// the available server with the highest weight, the first in list order on
// a tie. It shares the tournament tree of sched_lc.go, so a server that
// becomes overloaded hands over in O(log n).
func init() { registerScheduler("fo", treeScheduler(modeFO)) }
