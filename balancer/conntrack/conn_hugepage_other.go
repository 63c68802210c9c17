//go:build !linux

package conntrack

// connAdviseHuge is a no-op outside Linux.
func connAdviseHuge[T any](s []T) {}
