package engineio

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// bodyPool recycles the buffers polling bodies are read into; polling is the
// fallback transport, but a busy one still should not allocate per request.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// noopDelay is how long a GET sent during an upgrade is held before its noop,
// the reference's upgrade check interval.
const noopDelay = 100 * time.Millisecond

func writePolling(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

func (srv *Server) handshakePolling(w http.ResponseWriter, r *http.Request) {
	s := srv.newSession()
	s.addr = srv.cfg.clientAddr(r)
	s.poll = &polling{}
	// Held from before the session can be closed until Open has run, so
	// the Handler never hears Close before Open.
	s.recvMu.Lock()
	srv.register(s, true)
	srv.handler.Open(s, r)
	s.recvMu.Unlock()
	writePolling(w, append([]byte{typeOpen}, srv.openPacket(s, true)...))
}

type pollStatus uint8

const (
	pollWait pollStatus = iota
	pollAnswer
	pollRefuse
)

// handleGet serves one long-poll: it answers at once with what is queued, or
// waits until something is sent (at the latest the next ping), the session
// closes, or an upgrade needs the poll ended.
func (s *Session) handleGet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := s.poll
	switch {
	case p == nil:
		s.mu.Unlock()
		writeError(w, errBadRequest) // upgraded
		return
	case s.closed && p.lingering:
		p.lingering = false
		s.mu.Unlock()
		s.srv.forget(s)
		writePolling(w, []byte{typeNoop})
		return
	case s.closed:
		s.mu.Unlock()
		writeError(w, errSessionUnknown)
		return
	case p.getActive:
		// A second concurrent GET breaks the protocol: the reference
		// closes the session, the first GET gets "1" and this one 400.
		s.mu.Unlock()
		s.close(ReasonParseError, false)
		writeError(w, errBadRequest)
		return
	}
	p.getActive = true
	// A GET that arrives while a WebSocket probe is attached is one the
	// client sent before it paused polling. It is held up to noopDelay: if
	// the upgrade completes meanwhile, it is refused like any request after
	// the upgrade; otherwise it gets a noop so the client can pause.
	duringProbe := p.probe != nil
	var wake chan struct{}
	var noopAfter <-chan time.Time
	for {
		body, status := s.pollLocked(p, duringProbe)
		if status == pollWait && duringProbe && noopAfter == nil {
			noopAfter = time.After(noopDelay)
		}
		if status != pollWait {
			p.getActive = false
			p.getWake = nil
			s.mu.Unlock()
			if status == pollRefuse {
				writeError(w, errBadRequest)
			} else {
				writePolling(w, body)
			}
			return
		}
		if wake == nil {
			wake = make(chan struct{}, 1)
		}
		p.getWake = wake
		s.mu.Unlock()
		select {
		case <-wake:
			s.mu.Lock()
		case <-noopAfter:
			s.mu.Lock()
			if p.probe != nil || p.upgrading {
				p.getActive = false
				p.getWake = nil
				s.mu.Unlock()
				writePolling(w, []byte{typeNoop})
				return
			}
		case <-r.Context().Done():
			s.mu.Lock()
			p.getActive = false
			p.getWake = nil
			s.mu.Unlock()
			s.close(ReasonTransportError, false)
			return
		}
	}
}

// pollLocked decides what a GET answers now. duringProbe marks a GET that
// arrived while a probe was attached.
func (s *Session) pollLocked(p *polling, duringProbe bool) ([]byte, pollStatus) {
	switch {
	case s.closed && p.clientClosed:
		return []byte{typeNoop}, pollAnswer
	case s.closed:
		return []byte{typeClose}, pollAnswer
	case s.ws != nil && duringProbe:
		return nil, pollRefuse
	case s.ws != nil:
		return []byte{typeNoop}, pollAnswer
	case p.upgrading && !duringProbe:
		return []byte{typeNoop}, pollAnswer
	case p.upgrading || p.probe != nil && duringProbe:
		return nil, pollWait
	case len(p.queue) == 0:
		return nil, pollWait
	}
	var body []byte
	for i, q := range p.queue {
		body = appendRecord(body, q.typ, q.binary, q.data)
		p.queue[i] = outPacket{}
	}
	// Drop the backing array so an idle session holds no queue.
	p.dropQueue(s.srv.out)
	return body, pollAnswer
}

var errTooLarge = errors.New("engineio: payload too large")

func (s *Session) handlePost(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := s.poll
	switch {
	case p == nil:
		s.mu.Unlock()
		writeError(w, errBadRequest) // upgraded
		return
	case s.closed:
		s.mu.Unlock()
		writeError(w, errSessionUnknown)
		return
	case p.postActive:
		s.mu.Unlock()
		s.close(ReasonParseError, false)
		writeError(w, errBadRequest)
		return
	}
	p.postActive = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		p.postActive = false
		s.mu.Unlock()
	}()

	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/octet-stream") {
		// v4 sends binary as base64 text; a binary body is a v3 client.
		writeError(w, errBadRequest)
		return
	}
	bp := bodyPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			*bp = (*bp)[:0]
			bodyPool.Put(bp)
		}
	}()
	body, err := readBody(r.Body, *bp, s.srv.cfg.MaxPayload)
	*bp = body
	if errors.Is(err, errTooLarge) {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		s.close(ReasonTransportError, false)
		writeError(w, errBadRequest)
		return
	}
	packets, err := decodePayload(body, make([]packet, 0, 4))
	if err != nil {
		s.close(ReasonParseError, false)
		writeError(w, errBadRequest)
		return
	}
	s.recvMu.Lock()
	for _, pk := range packets {
		if pk.typ == typeMessage && !pk.binary {
			// The pooled body is reused after this request; the handler
			// may keep what it gets.
			pk.data = clone(pk.data)
		}
		if !s.receive(pk) {
			break
		}
	}
	s.recvMu.Unlock()
	w.Header().Set("Content-Type", "text/html")
	_, _ = w.Write([]byte("ok"))
}

// readBody reads at most limit bytes into buf.
func readBody(r io.Reader, buf []byte, limit int) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
