// Package wstest is a minimal blocking WebSocket client for tests and the
// memory benchmark: enough of RFC 6455 to talk to the Engine.IO server, with
// no dependency and nothing a real client would need (no TLS, no
// fragmentation on send, no extensions).
package wstest

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Conn is a client WebSocket connection. Reads and writes may run
// concurrently with each other, not with themselves.
type Conn struct {
	conn net.Conn
	br   *bufio.Reader
	// CloseCode is the code of the close frame received, if any.
	CloseCode int
}

// Dialer opens connections; LocalAddr, when set, picks the source address.
type Dialer struct {
	LocalAddr *net.TCPAddr
	Header    http.Header
	Timeout   time.Duration
}

// ErrHandshake reports a refused handshake; Status is the HTTP status.
type ErrHandshake struct{ Status int }

func (e *ErrHandshake) Error() string { return fmt.Sprintf("websocket handshake: HTTP %d", e.Status) }

// Dial opens a WebSocket to a ws:// URL.
func Dial(rawURL string) (*Conn, error) { return (&Dialer{}).Dial(rawURL) }

// Dial opens a WebSocket to a ws:// URL.
func (d *Dialer) Dial(rawURL string) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	timeout := d.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	nd := net.Dialer{Timeout: timeout}
	if d.LocalAddr != nil {
		nd.LocalAddr = d.LocalAddr
	}
	c, err := nd.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	var k [16]byte
	_, _ = rand.Read(k[:])
	req := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{}}
	for name, v := range d.Header {
		req.Header[name] = v
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(k[:]))
	req.Header.Set("Sec-WebSocket-Version", "13")
	_ = c.SetDeadline(time.Now().Add(timeout))
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body.Close()
		c.Close()
		return nil, &ErrHandshake{Status: resp.StatusCode}
	}
	_ = c.SetDeadline(time.Time{})
	return &Conn{conn: c, br: br}, nil
}

// Opcodes.
const (
	OpText   = 1
	OpBinary = 2
	OpClose  = 8
	OpPing   = 9
	OpPong   = 10
)

// ErrClosed is returned by Read after a close frame.
var ErrClosed = errors.New("websocket closed")

// SetReadDeadline bounds the next reads.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// Read returns the next data message, answering pings on the way.
func (c *Conn) Read() (binary bool, data []byte, err error) {
	var msg []byte
	var op byte
	for {
		fin, fop, payload, err := c.readFrame()
		if err != nil {
			return false, nil, err
		}
		switch fop {
		case OpClose:
			if len(payload) >= 2 {
				c.CloseCode = int(payload[0])<<8 | int(payload[1])
			}
			return false, nil, ErrClosed
		case OpPing:
			_ = c.WriteFrame(OpPong, payload)
			continue
		case OpPong:
			continue
		case 0:
		default:
			op = fop
		}
		msg = append(msg, payload...)
		if fin {
			return op == OpBinary, msg, nil
		}
	}
}

func (c *Conn) readFrame() (fin bool, op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(c.br, h[:]); err != nil {
		return
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err = io.ReadFull(c.br, e[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err = io.ReadFull(c.br, e[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	if n > 64<<20 {
		return false, 0, nil, errors.New("frame too large")
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(c.br, payload)
	return
}

// WriteText sends a text message.
func (c *Conn) WriteText(s string) error { return c.WriteFrame(OpText, []byte(s)) }

// WriteBinary sends a binary message.
func (c *Conn) WriteBinary(b []byte) error { return c.WriteFrame(OpBinary, b) }

// WriteFrame sends one masked frame.
func (c *Conn) WriteFrame(op byte, payload []byte) error {
	_, err := c.conn.Write(Frame(true, op, payload))
	return err
}

// WriteRaw sends bytes as they are, to test how a server copes with frames
// split across reads or malformed.
func (c *Conn) WriteRaw(b []byte) error {
	_, err := c.conn.Write(b)
	return err
}

// Frame encodes one masked client frame.
func Frame(fin bool, op byte, payload []byte) []byte {
	b := make([]byte, 0, 14+len(payload))
	first := op
	if fin {
		first |= 0x80
	}
	b = append(b, first)
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b = append(b, mask[:]...)
	for i, x := range payload {
		b = append(b, x^mask[i%4])
	}
	return b
}

// Close closes the TCP connection without a close handshake.
func (c *Conn) Close() error { return c.conn.Close() }

// Reset drops the connection without a close frame or an orderly TCP close:
// the server reads a reset.
func (c *Conn) Reset() error {
	if tc, ok := c.conn.(*net.TCPConn); ok {
		if err := tc.SetLinger(0); err != nil {
			return err
		}
	}
	return c.conn.Close()
}
