package parley

import (
	"context"
	"net/netip"
)

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the address of the client a request
// came from (after trusted proxies are looked through), for limits kept
// per address.
func WithClientAddr(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr.Unmap())
}

// ClientAddr returns the client address ctx carries, and false when it
// carries none (a call that did not come from the network).
func ClientAddr(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(clientAddrKey{}).(netip.Addr)
	return a, ok && a.IsValid()
}
