package httpapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/parleyhq/parley"
)

// Body read deadlines. A request body must arrive at MinBodyRate or
// better, after a grace of BodyGrace: each read moves the connection's
// read deadline to start + BodyGrace + bytes read so far / MinBodyRate, so
// a slow but honest upload goes through while a trickled body is cut
// within BodyGrace of falling behind. The realtime endpoint (long-polls
// and hijacked WebSockets) keeps its own deadlines.
const (
	defaultBodyGrace   = 20 * time.Second
	defaultMinBodyRate = 8 << 10 // bytes per second
)

// errSlowBody answers a request whose body arrived too slowly.
var errSlowBody = parley.Errorf(parley.EINVALID, "the request body arrived too slowly")

// paceBody returns body with the read deadline above, or body itself when
// the connection's deadline cannot be set.
func paceBody(w http.ResponseWriter, body io.ReadCloser, grace time.Duration, rate int64) io.ReadCloser {
	if body == nil || body == http.NoBody {
		return body
	}
	rc := http.NewResponseController(w)
	start := time.Now()
	if err := rc.SetReadDeadline(start.Add(grace)); err != nil {
		return body
	}
	return &pacedBody{ReadCloser: body, rc: rc, start: start, grace: grace, rate: rate}
}

type pacedBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	grace time.Duration
	rate  int64
	read  int64
}

func (p *pacedBody) Read(b []byte) (int, error) {
	n, err := p.ReadCloser.Read(b)
	p.read += int64(n)
	if n > 0 {
		allowed := p.grace + time.Duration(float64(p.read)/float64(p.rate)*float64(time.Second))
		p.rc.SetReadDeadline(p.start.Add(allowed))
	}
	if err == io.EOF {
		// The whole body is in: the server's background read that follows
		// must not time out, as that would cancel the request's context.
		p.rc.SetReadDeadline(time.Time{})
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, errSlowBody
	}
	return n, err
}

// writeTimeout bounds writing an API answer; downloads get longer, in
// proportion to their size (serveMedia).
const writeTimeout = time.Minute

// paceWrites sets w's write deadline for an API answer and returns the
// function that lifts it, so the connection's next request starts without
// one.
func paceWrites(w http.ResponseWriter) func() {
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return func() {}
	}
	return func() { rc.SetWriteDeadline(time.Time{}) }
}
