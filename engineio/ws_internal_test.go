package engineio

import (
	"testing"

	"github.com/lesismal/nbio"
)

// TestDropAddrsFindsFields fails when an nbio upgrade moves the fields
// dropAddrs clears, so the memory regression is noticed.
func TestDropAddrsFindsFields(t *testing.T) {
	if len(nbioAddrOffsets) != 2 {
		t.Fatal("nbio.Conn has no lAddr/rAddr net.Addr fields any more; dropAddrs does nothing")
	}
	c := &nbio.Conn{}
	dropAddrs(c)
	if c.LocalAddr() != noAddr || c.RemoteAddr() != noAddr {
		t.Errorf("addresses after dropAddrs: %v %v", c.LocalAddr(), c.RemoteAddr())
	}
}
