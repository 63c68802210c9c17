package vrrp

// InstanceOwner is an Owner that also holds state of a whole instance
// while it is MASTER: what keepalived gives the kernel (addresses that
// back no virtual server, virtual_routes, virtual_rules). Up runs after
// the instance's Claims and before its first gratuitous ARPs, so the
// kernel owns an address before it is announced; Down runs before its
// Releases, so routes and rules go before the addresses they may use.
type InstanceOwner interface {
	Owner
	Up(instance string)
	Down(instance string)
}

func (r *Router) instanceUp(in *instance) {
	if o, ok := r.cfg.Owner.(InstanceOwner); ok {
		o.Up(in.cfg.Name)
	}
}

func (r *Router) instanceDown(in *instance) {
	if o, ok := r.cfg.Owner.(InstanceOwner); ok {
		o.Down(in.cfg.Name)
	}
}
