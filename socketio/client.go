package socketio

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/parleyhq/parley/engineio"
)

// client is one Engine.IO connection and the sockets multiplexed on it. Its
// receive path runs one message at a time (engineio guarantees it).
type client struct {
	srv  *Server
	sess *engineio.Session

	mu   sync.Mutex
	main *Socket     // the socket on "/", the common case
	rare *clientRare // what most connections need only briefly, or never
	gone bool
}

// clientRare holds a client's less common state; it exists while any of it
// is set, which for a typical client ends with its first CONNECT.
type clientRare struct {
	others       map[string]*Socket // namespaces other than "/"
	connectTimer *time.Timer        // until the first namespace is joined
	partial      *partialPacket     // a binary packet waiting for attachments
}

type partialPacket struct {
	p           packet
	attachments [][]byte
	size        int // bytes of the attachments so far
}

func (c *client) socket(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	if nsp == "/" {
		return c.main
	}
	if c.rare == nil {
		return nil
	}
	return c.rare.others[nsp]
}

// rareLocked returns c.rare, allocating it.
func (c *client) rareLocked() *clientRare {
	if c.rare == nil {
		c.rare = &clientRare{}
	}
	return c.rare
}

// tidyLocked drops c.rare once it holds nothing.
func (c *client) tidyLocked() {
	if r := c.rare; r != nil && len(r.others) == 0 && r.connectTimer == nil && r.partial == nil {
		c.rare = nil
	}
}

// stopTimerLocked ends the connect timeout.
func (c *client) stopTimerLocked() {
	if c.rare != nil && c.rare.connectTimer != nil {
		c.rare.connectTimer.Stop()
		c.rare.connectTimer = nil
		c.tidyLocked()
	}
}

func (c *client) connectTimeout() {
	c.mu.Lock()
	expired := c.rare != nil && c.rare.connectTimer != nil && !c.gone
	c.mu.Unlock()
	if expired {
		c.sess.CloseWith(engineio.ReasonForcedClose)
	}
}

// partialPacket returns the binary packet being assembled, if any.
func (c *client) partialPacket() *partialPacket {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rare == nil {
		return nil
	}
	return c.rare.partial
}

func (c *client) setPartial(pp *partialPacket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pp == nil {
		if c.rare != nil {
			c.rare.partial = nil
			c.tidyLocked()
		}
		return
	}
	c.rareLocked().partial = pp
}

// fail drops the whole connection for a protocol error, as the reference
// does for any invalid packet.
func (c *client) fail() { c.sess.CloseWith(engineio.ReasonParseError) }

func (c *client) receive(data []byte, binary bool) {
	pp := c.partialPacket()
	if binary {
		if pp == nil {
			c.fail()
			return
		}
		// What a packet announces is held until its last attachment
		// arrives: all of it together is bounded like one message.
		pp.size += len(data)
		if pp.size > c.srv.cfg.MaxAttachmentBytes {
			c.fail()
			return
		}
		pp.attachments = append(pp.attachments, data)
		if len(pp.attachments) == pp.p.attachments {
			c.setPartial(nil)
			c.dispatch(pp.p, pp.attachments)
		}
		return
	}
	if pp != nil {
		c.fail()
		return
	}
	p, err := decodePacket(data, c.srv.lim)
	if err != nil {
		c.fail()
		return
	}
	if p.attachments > 0 {
		// Nothing is held for a client that has not joined the namespace:
		// before authentication, attachments would be memory anyone can
		// make the server keep.
		if s := c.socket(p.nsp); s == nil || !s.Connected() {
			c.fail()
			return
		}
		c.setPartial(&partialPacket{p: p, attachments: make([][]byte, 0, p.attachments)})
		return
	}
	c.dispatch(p, nil)
}

func (c *client) dispatch(p packet, attachments [][]byte) {
	s := c.socket(p.nsp)
	if p.typ == typeConnect {
		if s != nil {
			c.fail()
			return
		}
		c.connect(p)
		return
	}
	if s == nil {
		c.fail()
		return
	}
	switch p.typ {
	case typeDisconnect:
		s.leave(ReasonClientDisconnect, false)
	case typeEvent, typeBinaryEvent:
		if !s.onEvent(p, attachments) {
			c.fail()
		}
	case typeAck, typeBinaryAck:
		if !s.onAck(p, attachments) {
			c.fail()
		}
	}
}

func (c *client) connect(p packet) {
	nsp := c.srv.namespace(p.nsp)
	if nsp == nil {
		c.sendConnectError(p.nsp, &ConnectError{Message: "Invalid namespace"})
		return
	}
	s := newSocket(c, nsp)
	if !c.attach(s) {
		return
	}
	var auth json.RawMessage
	if len(p.payload) > 0 {
		auth = json.RawMessage(p.payload)
	}
	if nsp.OnConnect != nil {
		if err := nsp.OnConnect(s, auth); err != nil {
			c.detach(s)
			s.refuse()
			c.sendConnectError(p.nsp, err)
			return
		}
	}
	c.mu.Lock()
	c.stopTimerLocked()
	c.mu.Unlock()
	s.accept()
}

// attach registers a connecting socket; false when the connection is gone.
func (c *client) attach(s *Socket) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return false
	}
	if s.nsp.name == "/" {
		c.main = s
	} else {
		r := c.rareLocked()
		if r.others == nil {
			r.others = make(map[string]*Socket)
		}
		r.others[s.nsp.name] = s
	}
	return true
}

func (c *client) detach(s *Socket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.nsp.name == "/" {
		if c.main == s {
			c.main = nil
		}
	} else if c.rare != nil && c.rare.others[s.nsp.name] == s {
		delete(c.rare.others, s.nsp.name)
		c.tidyLocked()
	}
}

func (c *client) sendConnectError(nsp string, err error) {
	b := appendHeader(make([]byte, 0, 64), typeConnectError, 0, nsp, noAck)
	b = append(b, connectErrorPayload(err)...)
	_ = c.sess.Send(b)
}

// closed runs when the Engine.IO session ends: every socket leaves.
func (c *client) closed(reason Reason) {
	c.mu.Lock()
	c.gone = true
	var all []*Socket
	if c.main != nil {
		all = append(all, c.main)
	}
	if r := c.rare; r != nil {
		if r.connectTimer != nil {
			r.connectTimer.Stop()
		}
		for _, s := range r.others {
			all = append(all, s)
		}
	}
	c.main, c.rare = nil, nil
	c.mu.Unlock()
	for _, s := range all {
		s.leave(reason, false)
	}
}
