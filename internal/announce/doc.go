// Package announce is route health injection: it announces each VIP the
// director can serve to the upstream routers over BGP, and withdraws it
// when the director cannot (no healthy real server, VRRP backup, drain),
// so that the routers spread flows over every active director with ECMP.
//
// Decide is the pure decision (which prefixes, and why); a Controller
// applies its result to a Speaker, the seam to the BGP implementation.
// GoBGP (github.com/osrg/gobgp/v4), embedded in-process without a
// listening socket, is the real Speaker; announcetest has a fake.
package announce
