package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/coder/websocket"
	"github.com/parleyhq/parley"
)

// read handles frames until the connection fails.
func (s *Socket) read(c *conn) error {
	for {
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			return err
		}
		c.buf, err = readInto(c.buf[:0], r)
		if err != nil {
			return err
		}
		if typ == websocket.MessageBinary {
			// An attachment of a binary packet, refused already.
			if c.skip > 0 {
				c.skip--
			}
			continue
		}
		if err := s.handleFrame(c, c.buf); err != nil {
			return err
		}
		if cap(c.buf) > 16<<10 {
			// Do not keep a large buffer for a connection that is
			// mostly idle.
			c.buf = nil
		}
	}
}

func readInto(b []byte, r io.Reader) ([]byte, error) {
	if b == nil {
		b = make([]byte, 0, 512)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// handleFrame handles one Engine.IO text packet.
func (s *Socket) handleFrame(c *conn, b []byte) error {
	if len(b) == 0 {
		return errBadPacket
	}
	switch b[0] {
	case eioPing:
		c.hb.Reset(c.open.heartbeat())
		var pong [8]byte
		p := append(append(pong[:0], eioPong), b[1:]...)
		return c.write(p)
	case eioMessage:
		return s.handlePacket(c, b[1:])
	case eioClose:
		return errEngineClose
	case eioNoop, eioPong:
		return nil
	}
	return fmt.Errorf("%w: %q", errBadPacket, truncate(b))
}

// handlePacket handles one Socket.IO packet.
func (s *Socket) handlePacket(c *conn, b []byte) error {
	p, err := decodePacket(b)
	if err != nil {
		return err
	}
	if p.nsp != "/" {
		return nil // only "/" is joined; nothing else should come
	}
	switch p.typ {
	case sioEvent:
		args, err := splitArgs(p.data)
		if err != nil || len(args) == 0 {
			return errBadPacket
		}
		name, ok := eventName(args[0])
		if !ok {
			return errBadPacket
		}
		var raw json.RawMessage
		if len(args) > 1 {
			raw = args[1]
		}
		s.dispatch(name, raw)
	case sioAck:
		args, err := splitArgs(p.data)
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if len(args) > 0 {
			raw = args[0]
		}
		c.resolve(p.id, raw, nil)
	case sioBinaryEvent:
		// Refused, not fatal: the attachments that follow are skipped and
		// the handler learns of the event by its name.
		c.skip += p.attachments
		if args, err := splitArgs(p.data); err == nil && len(args) > 0 {
			if name, ok := eventName(args[0]); ok {
				s.deliver(Event{Name: name, Err: ErrBinary})
			}
		}
	case sioBinaryAck:
		c.skip += p.attachments
		c.resolve(p.id, nil, ErrBinary)
	case sioDisconnect:
		return ErrServerDisconnect
	case sioConnectError:
		return decodeConnectError(p.data)
	}
	return nil
}

func (s *Socket) dispatch(name string, raw json.RawMessage) {
	ev := decodeEvent(name, raw)
	if m, ok := ev.Data.(*parley.Message); ok {
		s.advance(m.ConversationID, m.Seq)
	}
	s.deliver(ev)
}

// deliver hands an event to the Handler or the Events channel.
func (s *Socket) deliver(ev Event) {
	if s.cfg.Handler != nil {
		s.cfg.Handler(ev)
		return
	}
	select {
	case s.events <- ev:
	case <-s.ctx.Done():
	}
}

func decodeConnectError(data []byte) error {
	var e struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &e); err != nil {
		// The protocol also allows a bare string.
		var msg string
		if json.Unmarshal(data, &msg) != nil {
			return &ConnectError{Message: string(data)}
		}
		e.Message = msg
	}
	return &ConnectError{Message: e.Message, Data: e.Data}
}
