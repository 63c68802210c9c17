//go:build !linux

package balancer

// connAdviseHuge is a no-op outside Linux.
func connAdviseHuge[T any](s []T) {}
