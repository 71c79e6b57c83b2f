package benchcompare

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one server under load: a child process that the comparison
// started and kills.
type process struct {
	name string
	cmd  *exec.Cmd
	url  string

	mu   sync.Mutex
	tail []string // its last lines of output, for errors
	done chan struct{}
}

const tailLines = 20

// startProcess runs argv with env added, reads its stdout and stderr until
// a line matches ready (whose first group is the address it listens on),
// and returns it serving. The child dies with this process (SIGKILL on the
// parent's death), so an interrupted comparison leaves nothing behind.
func startProcess(ctx context.Context, name string, argv, env []string, ready *regexp.Regexp, timeout time.Duration) (*process, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	addr := make(chan string, 1)
	go func() {
		// Read to the end, so the child never blocks on a full pipe.
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.tail = append(p.tail, line)
			if len(p.tail) > tailLines {
				p.tail = p.tail[1:]
			}
			p.mu.Unlock()
			if m := ready.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case a := <-addr:
		p.url = "http://" + a
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before serving: %s", name, p.lastOutput())
	case <-t.C:
		p.kill()
		return nil, fmt.Errorf("%s did not serve within %s: %s", name, timeout, p.lastOutput())
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	}
}

// kill ends the process and waits for it.
func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) lastOutput() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tail) == 0 {
		return "no output"
	}
	return strings.Join(p.tail, "\n")
}

// cpuTime returns the user plus system CPU time that process pid (0: this
// process) has used, from /proc/<pid>/stat, in clock ticks of 1/100 s
// (USER_HZ is 100 on every Linux architecture Parley runs on).
func cpuTime(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	return parseStat(string(b))
}

// parseStat reads utime and stime (fields 14 and 15) of a /proc stat
// line; the command name (field 2) is in parentheses and may hold spaces.
func parseStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("cpu time: malformed stat line")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), so utime is f[11] and stime f[12].
	if len(f) < 13 {
		return 0, errors.New("cpu time: short stat line")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("cpu time: malformed stat times")
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
