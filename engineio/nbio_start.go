package engineio

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/lesismal/nbio"
)

// pollerProbe marks a connection used by waitPollers.
type pollerProbe struct{ read chan struct{} }

// waitPollers works around a start-up race in nbio 1.6: a poller goroutine
// clears its shutdown flag when it begins running, so an Engine.Stop that
// comes before every poller has run is lost and Stop waits forever (seen with
// servers closed right after they start, as in tests). Each poller is made to
// handle one read before the engine is used, which proves its loop runs.
func waitPollers(g *nbio.Engine, n int) error {
	seen := make([]bool, n)
	left := n
	for tries := 0; left > 0; tries++ {
		if tries > 8*n {
			return errors.New("engineio: websocket pollers did not start")
		}
		idx, err := probePoller(g, n)
		if err != nil {
			return err
		}
		if !seen[idx] {
			seen[idx] = true
			left--
		}
	}
	return nil
}

// probePoller sends one byte through a socket pair registered with g and
// returns the index of the poller that read it.
func probePoller(g *nbio.Engine, n int) (int, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fds[1])
	f := os.NewFile(uintptr(fds[0]), "poller-probe")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return 0, err
	}
	nbc, err := nbio.NBConn(c) // takes its own descriptor and closes c
	if err != nil {
		return 0, err
	}
	p := &pollerProbe{read: make(chan struct{})}
	nbc.SetSession(p)
	if _, err := g.AddConn(nbc); err != nil {
		return 0, err
	}
	defer nbc.Close()
	if _, err := syscall.Write(fds[1], []byte{0}); err != nil {
		return 0, err
	}
	select {
	case <-p.read:
	case <-time.After(10 * time.Second):
		return 0, errors.New("engineio: websocket poller does not read")
	}
	// nbio assigns a connection to poller fd % number of pollers.
	return nbc.Hash() % n, nil
}
