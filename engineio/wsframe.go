package engineio

import (
	"encoding/binary"
	"errors"
	"math"
	"net"
	"sync"
	"sync/atomic"

	"github.com/lesismal/nbio"
)

// nbioWS is one server-side WebSocket on nbio: RFC 6455 framing for what
// Engine.IO needs (no extensions, no subprotocols). Inbound bytes are parsed
// on the poller goroutine; state survives between reads only while a frame
// or a fragmented message is incomplete.
type nbioWS struct {
	wsTransport // one allocation for the protocol and the framing state
	nbc         *nbio.Conn
	tr          *nbioTransport // limits and the server's outbound budget
	ready       atomic.Bool
	failed      bool // owned by the poller goroutine; packed beside ready

	// input is the bytes of messages handed to the job list and not yet
	// handled; see Config.MaxInputBuffer.
	input atomic.Int64
	// out is the bytes written and not yet taken by the kernel, also
	// counted in the server's budget; outReleased once the connection is
	// closed and they were taken off it. One word, not a mutex and a
	// flag: every idle WebSocket carries it.
	out atomic.Int64

	// wmu guards pend, the frames written since the last flush, and orders
	// them into nbio; pend is nil while nothing waits (write).
	wmu  sync.Mutex
	pend *[]byte

	in *wsInput // owned by the poller goroutine; nil between complete messages
}

// wsInput is what an incomplete read leaves behind.
type wsInput struct {
	partial []byte // an incomplete frame
	frag    []byte // a fragmented message being assembled
	fragOp  byte
}

// WebSocket opcodes and close codes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa

	closeProtocolError = 1002
	closeTooBig        = 1009
)

var errFrame = errors.New("engineio: websocket protocol error")

func (w *nbioWS) onData(data []byte) {
	if w.failed {
		return
	}
	in := w.in
	owned := in != nil && len(in.partial) > 0
	if owned {
		in.partial = append(in.partial, data...)
		data = in.partial
	}
	for len(data) > 0 {
		n, code := w.parseFrame(data)
		if code != 0 {
			w.fail(code)
			return
		}
		if w.failed {
			return
		}
		if n == 0 {
			break
		}
		data = data[n:]
	}
	if w.failed {
		return
	}
	if len(data) == 0 {
		if w.in != nil {
			w.in.partial = nil
			if w.in.frag == nil {
				w.in = nil
			}
		}
		return
	}
	// Keep the incomplete frame. The poller's buffer is reused, so it is
	// copied; the partial buffer is this connection's and is kept as it is:
	// copying it on every read would cost a large frame arriving in many
	// reads time quadratic in its size, on the poller every connection
	// shares. Its consumed head is dropped once it outweighs the rest.
	if w.in == nil {
		w.in = &wsInput{}
	}
	switch {
	case !owned:
		w.in.partial = append([]byte(nil), data...)
	case cap(data) < cap(w.in.partial)/2:
		w.in.partial = append([]byte(nil), data...)
	default:
		w.in.partial = data
	}
}

// parseFrame handles the frame at the start of b. It returns how many bytes
// it used (0 when the frame is incomplete) or a close code on error.
func (w *nbioWS) parseFrame(b []byte) (int, int) {
	var frag []byte
	if w.in != nil {
		frag = w.in.frag
	}
	f, used, code := nextFrame(b, len(frag), w.tr.cfg.MaxPayload)
	if code != 0 || used == 0 {
		return 0, code
	}
	fin, op, payload := f.fin, f.op, f.payload

	switch op {
	case opPing:
		_ = w.write(opPong, 0, false, payload)
	case opPong:
	case opClose:
		code := closeNormal
		if len(payload) >= 2 {
			code = int(binary.BigEndian.Uint16(payload))
		}
		w.failed = true
		w.close(code)
	case opText, opBinary:
		if frag != nil {
			return 0, closeProtocolError
		}
		if !fin {
			if w.in == nil {
				w.in = &wsInput{}
			}
			w.in.frag, w.in.fragOp = payload, op
			return used, 0
		}
		return used, w.deliver(op, payload)
	case opContinuation:
		if frag == nil {
			return 0, closeProtocolError
		}
		w.in.frag = append(frag, payload...)
		if fin {
			msg := w.in.frag
			w.in.frag = nil
			return used, w.deliver(w.in.fragOp, msg)
		}
	default:
		return 0, closeProtocolError
	}
	return used, 0
}

// frame is one decoded client frame; payload is unmasked.
type frame struct {
	fin     bool
	op      byte
	payload []byte
}

// nextFrame decodes the frame at the start of b, which follows fragLen bytes
// of a fragmented message. It returns the frame and how many bytes it used,
// 0 when b does not hold the whole frame yet, or a close code for a frame
// that breaks RFC 6455 or would take the message over maxPayload bytes. The
// payload is a copy: b is the poller's buffer.
func nextFrame(b []byte, fragLen, maxPayload int) (frame, int, int) {
	if len(b) < 2 {
		return frame{}, 0, 0
	}
	fin, rsv, op := b[0]&0x80 != 0, b[0]&0x70, b[0]&0x0f
	masked, n := b[1]&0x80 != 0, uint64(b[1]&0x7f)
	if rsv != 0 || !masked {
		return frame{}, 0, closeProtocolError
	}
	h := 2
	switch n {
	case 126:
		if len(b) < 4 {
			return frame{}, 0, 0
		}
		n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return frame{}, 0, 0
		}
		n, h = binary.BigEndian.Uint64(b[2:]), 10
	}
	control := op&0x8 != 0
	if control && (n > 125 || !fin) {
		return frame{}, 0, closeProtocolError
	}
	// Compared without adding: a 64-bit length plus the fragment so far
	// could wrap around and pass, and the socket would then buffer
	// whatever the client sends while it waits for the rest of the frame.
	if !control && (n > uint64(maxPayload) || int(n) > maxPayload-fragLen) {
		return frame{}, 0, closeTooBig
	}
	if len(b) < h+4 || uint64(len(b)-h-4) < n {
		return frame{}, 0, 0
	}
	mask := b[h : h+4]
	payload := make([]byte, n)
	for i, c := range b[h+4 : h+4+int(n)] {
		payload[i] = c ^ mask[i&3]
	}
	return frame{fin: fin, op: op, payload: payload}, h + 4 + int(n), 0
}

// deliver hands one message on. Text that is not valid UTF-8 is delivered
// as it is, not failed with 1007 as RFC 6455 would have it: polling has no
// such check, and both transports must treat a client's bad text alike, so
// the layer above decides (Socket.IO refuses the event, the connection
// stays).
func (w *nbioWS) deliver(op byte, msg []byte) int {
	if w.probing() {
		// The upgrade dance runs on the poller: it never blocks, and
		// answering "2probe" without a goroutine hop keeps the probe reply
		// ahead of anything the client does next on other connections.
		w.onFrame(op == opBinary, msg)
		return 0
	}
	n := int64(len(msg))
	if q := w.input.Add(n); q > n && q > int64(w.tr.cfg.MaxInputBuffer) {
		// The handler is behind by more than the budget: stop reading
		// and let the session say why, off the poller goroutine.
		w.input.Add(-n)
		w.failed = true
		w.in = nil
		if s := w.sess; s != nil {
			go s.close(ReasonInputOverflow, false)
		} else {
			w.close(closePolicy)
		}
		return 0
	}
	w.nbc.Execute(func() {
		w.onFrame(op == opBinary, msg)
		w.input.Add(-n)
	})
	return 0
}

func (w *nbioWS) fail(code int) {
	w.failed = true
	w.in = nil
	w.close(code)
}

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// recycleFrames gives a buffer of frames back to the pool unless it grew
// large (a big message's), which would stay held by the pool.
func recycleFrames(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		*bp = (*bp)[:0]
		framePool.Put(bp)
	}
}

// write queues one frame; prefix, when set, goes before data in the payload
// (the Engine.IO packet type), so a packet needs no concatenation.
//
// Frames are not written one by one: they wait in pend until the
// connection's flusher writes everything the connection has waiting in one
// write call (flush). A commit of the store answers many sends at once and
// under load each socket gets several frames of it: one system call for
// them all instead of one each halved the node's write calls per message
// (BENCHMARKS.md). An idle connection holds no buffer: pend is nil between
// flushes.
func (w *nbioWS) write(op, prefix byte, hasPrefix bool, data []byte) error {
	n := len(data)
	if hasPrefix {
		n++
	}
	size := int64(frameHeaderLen(n) + n)
	w.wmu.Lock()
	if w.out.Load() == outReleased {
		w.wmu.Unlock()
		return net.ErrClosed
	}
	if w.queued()+size > int64(w.tr.cfg.MaxWriteBuffer) {
		// The peer is not reading: the session closes on this error.
		w.wmu.Unlock()
		return errSlowConsumer
	}
	first := w.pend == nil
	if first {
		w.pend = framePool.Get().(*[]byte)
	}
	b := appendFrameHeader(*w.pend, op, n)
	if hasPrefix {
		b = append(b, prefix)
	}
	*w.pend = append(b, data...)
	// Counted until the kernel takes them: nbio reports what it took, from
	// inside its Write too.
	w.account(size)
	w.wmu.Unlock()
	if first {
		w.tr.flusherOf(w).add(w)
	}
	return nil
}

func (w *nbioWS) flush() { w.writePending() }

// writePending writes the frames waiting in pend and reports whether there
// were any. nbio's Write never blocks: it hands the kernel what it takes
// and keeps the rest until the socket can take more; past MaxWriteBuffer (a
// peer that does not read) it closes the connection, whose OnClose tells
// the session why.
func (w *nbioWS) writePending() bool {
	w.wmu.Lock()
	bp := w.pend
	w.pend = nil
	var err error
	if bp != nil {
		_, err = w.nbc.Write(*bp)
	}
	w.wmu.Unlock()
	if bp == nil {
		return false
	}
	if err != nil {
		w.release()
	}
	recycleFrames(bp)
	return true
}

func (w *nbioWS) writePacket(typ byte, bin bool, data []byte) error {
	if bin {
		return w.write(opBinary, 0, false, data)
	}
	return w.write(opText, typ, true, data)
}

// close writes what waits and a close frame, and closes the connection.
func (w *nbioWS) close(code int) {
	w.wmu.Lock()
	bp := w.pend
	w.pend = nil
	if bp == nil {
		bp = framePool.Get().(*[]byte)
	}
	b := appendFrameHeader(*bp, opClose, 2)
	*bp = binary.BigEndian.AppendUint16(b, uint16(code))
	_, _ = w.nbc.Write(*bp)
	w.wmu.Unlock()
	_ = w.nbc.Close()
	w.release()
	recycleFrames(bp)
}

// outReleased marks out once the connection's bytes left the server's
// count for good.
const outReleased = math.MinInt64

// account adds n to the bytes waiting for the kernel, until release.
func (w *nbioWS) account(n int64) {
	for {
		v := w.out.Load()
		if v == outReleased {
			return
		}
		if w.out.CompareAndSwap(v, v+n) {
			// A release between the swap and this add took v+n off the
			// count already; the two even out.
			w.tr.out.add(n)
			return
		}
	}
}

// release takes the connection's bytes off the server's count for good:
// once closed, nbio writes nothing more.
func (w *nbioWS) release() {
	if v := w.out.Swap(outReleased); v != outReleased {
		w.tr.out.add(-v)
	}
}

func (w *nbioWS) queued() int64 {
	if v := w.out.Load(); v != outReleased {
		return v
	}
	return 0
}

// frameHeaderLen is the length of the header appendFrameHeader writes for
// a payload of n bytes.
func frameHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	default:
		return 10
	}
}

func appendFrameHeader(b []byte, op byte, n int) []byte {
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
}
