package balancer

// ovf is IPVS's overflow-connection scheduler (ip_vs_ovf.c): the available
// server with the highest weight whose active connections do not exceed its
// weight; when it fills up, new connections overflow to the next highest.
// Only active connections count, so it suits TCP, not UDP. It shares the
// tournament tree of sched_lc.go.
func init() { registerScheduler("ovf", treeScheduler(modeOVF)) }
