package client

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// conn is one WebSocket connection of a Socket and the acks awaited on it.
// A reconnection makes a new conn; the acks of the old one fail.
type conn struct {
	ws   *websocket.Conn
	sid  string
	open openPacket
	// hb closes the connection when the server stops pinging; every ping
	// resets it.
	hb       *time.Timer
	timedOut atomic.Bool

	mu   sync.Mutex
	acks map[int64]*pendingAck
	gone bool

	// Used by the reader goroutine only.
	buf  []byte
	skip int // binary attachments still to skip
}

type pendingAck struct {
	cb       func(json.RawMessage, error)
	timer    *time.Timer // nil without a timeout
	deadline time.Time   // zero without a timeout
}

// connect dials the server and runs the three handshakes: WebSocket,
// Engine.IO open packet, Socket.IO CONNECT with the token.
func (s *Socket) connect(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{
		HTTPClient: s.cfg.HTTPClient,
		HTTPHeader: s.cfg.Header,
	})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("client: dial %s: HTTP %d: %w", s.url, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("client: dial %s: %w", s.url, err)
	}
	ws.SetReadLimit(s.cfg.MaxMessageBytes)
	c := &conn{ws: ws}
	if err := c.handshake(ctx, s.cfg.Token); err != nil {
		ws.CloseNow()
		return nil, err
	}
	c.hb = time.AfterFunc(c.open.heartbeat(), func() {
		c.timedOut.Store(true)
		c.ws.CloseNow()
	})
	return c, nil
}

func (c *conn) handshake(ctx context.Context, token string) error {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return fmt.Errorf("client: read open packet: %w", err)
	}
	if c.open, err = decodeOpen(b); err != nil {
		return err
	}
	msg, err := appendConnect(nil, struct {
		Token string `json:"token"`
	}{token})
	if err != nil {
		return err
	}
	if err := c.ws.Write(ctx, websocket.MessageText, msg); err != nil {
		return fmt.Errorf("client: send connect: %w", err)
	}
	for {
		typ, b, err := c.ws.Read(ctx)
		if err != nil {
			return fmt.Errorf("client: read connect answer: %w", err)
		}
		if typ != websocket.MessageText || len(b) == 0 {
			return errBadPacket
		}
		switch b[0] {
		case eioPing:
			if err := c.ws.Write(ctx, websocket.MessageText, append([]byte{eioPong}, b[1:]...)); err != nil {
				return fmt.Errorf("client: answer ping: %w", err)
			}
			continue
		case eioNoop:
			continue
		case eioMessage:
		default:
			return fmt.Errorf("%w: %q during connect", errBadPacket, truncate(b))
		}
		p, err := decodePacket(b[1:])
		if err != nil || p.nsp != "/" {
			return errBadPacket
		}
		switch p.typ {
		case sioConnect:
			var ok struct {
				SID string `json:"sid"`
			}
			if err := json.Unmarshal(p.data, &ok); err != nil {
				return fmt.Errorf("%w: connect answer %q", errBadPacket, truncate(b))
			}
			c.sid = ok.SID
			return nil
		case sioConnectError:
			return decodeConnectError(p.data)
		}
		return fmt.Errorf("%w: %q during connect", errBadPacket, truncate(b))
	}
}

// write sends one text frame. Writes are serialised by the WebSocket
// library; a connection the server stopped reading is closed by the
// heartbeat, which ends a stuck write too.
func (c *conn) write(b []byte) error {
	return c.ws.Write(context.Background(), websocket.MessageText, b)
}

// addAck registers a callback for ack id, failed with ErrAckTimeout after
// timeout when it is positive; false if the connection is gone.
//
// The timer starts under the lock that takeAck takes, so that it always
// finds the ack registered, however short the timeout, and the reader,
// which stops it, always sees it.
func (c *conn) addAck(id int64, a *pendingAck, timeout time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return false
	}
	if c.acks == nil {
		c.acks = make(map[int64]*pendingAck)
	}
	if timeout > 0 {
		a.deadline = time.Now().Add(timeout)
		a.timer = time.AfterFunc(timeout, func() {
			if c.takeAck(id) != nil {
				a.cb(nil, ErrAckTimeout)
			}
		})
	}
	c.acks[id] = a
	return true
}

// takeAck removes and returns the pending ack id, nil if it was resolved,
// timed out or failed already.
func (c *conn) takeAck(id int64) *pendingAck {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.acks[id]
	delete(c.acks, id)
	return a
}

func (c *conn) resolve(id int64, raw json.RawMessage, err error) {
	if a := c.takeAck(id); a != nil {
		if a.timer != nil {
			a.timer.Stop()
			// An answer read after the deadline, before the timer's
			// goroutine ran, came too late all the same.
			if err == nil && time.Now().After(a.deadline) {
				raw, err = nil, ErrAckTimeout
			}
		}
		a.cb(raw, err)
	}
}

// shutdown closes the connection and fails every ack still awaited.
func (c *conn) shutdown(err error) {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return
	}
	c.gone = true
	acks := c.acks
	c.acks = nil
	c.mu.Unlock()
	if c.hb != nil {
		c.hb.Stop()
	}
	c.ws.CloseNow()
	for _, a := range acks {
		if a.timer != nil {
			a.timer.Stop()
		}
		a.cb(nil, err)
	}
}
