// Package bench measures ulvs side by side with its peers: it builds a
// namespace topology, drives traffic sources (pcap replay, synthetic flows)
// through the subjects and verifies every delivered packet at the sinks.
package bench
