package engineio

import (
	"net"
	"reflect"
	"unsafe"

	"github.com/lesismal/nbio"
)

// nbio keeps copies of a connection's local and remote addresses for the
// connection's lifetime: two net.TCPAddr and the sockaddrs their IPs point
// into, about 160 bytes, a tenth of the memory budget of an idle connection.
// Nothing here reads them (the application gets the peer address from the
// handshake request), so they are replaced by one shared value. nbio does not
// export the fields: their offsets are found once, by name and type, and if
// a new nbio version renames or retypes them the addresses are simply kept.
var nbioAddrOffsets = func() []uintptr {
	t := reflect.TypeOf(nbio.Conn{})
	addr := reflect.TypeOf((*net.Addr)(nil)).Elem()
	var offs []uintptr
	for _, name := range []string{"lAddr", "rAddr"} {
		f, ok := t.FieldByName(name)
		if !ok || f.Type != addr {
			return nil
		}
		offs = append(offs, f.Offset)
	}
	return offs
}()

var noAddr net.Addr = &net.TCPAddr{IP: net.IPv4zero}

// dropAddrs must run before the connection is registered with a poller.
func dropAddrs(c *nbio.Conn) {
	for _, off := range nbioAddrOffsets {
		*(*net.Addr)(unsafe.Add(unsafe.Pointer(c), off)) = noAddr
	}
}
