package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// Postgres is one database on a PostgreSQL server started for tests.
//
// PostgreSQL refuses to run as root. When the tests run as root (as CI
// does), the server runs as the postgres system user, which Debian's
// postgresql package creates: its directory is made outside the test's
// TempDir (whose parents root keeps private) and owned by that user, and
// the processes get that user's credentials at exec. Clients connect over
// TCP with trust authentication, so the test itself needs no user switch.
type Postgres struct {
	tb     testing.TB
	srv    *pgServer
	db     string
	shared bool
}

// MustPostgres returns a fresh, empty database. With Main in the package's
// TestMain, every call in the test binary gets its database on one shared
// server (stopping it is refused: use MustPostgresServer for that);
// otherwise each call starts its own server.
func MustPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	procEnv.mu.Lock()
	sharing := procEnv.sharing
	procEnv.mu.Unlock()
	if !sharing {
		return MustPostgresServer(tb)
	}
	srv := sharedPostgres(tb)
	return &Postgres{tb: tb, srv: srv, db: srv.createDB(tb), shared: true}
}

// MustPostgresServer starts a PostgreSQL server of the test's own on a free
// 127.0.0.1 port, with fsync on (durability is what the store tests check),
// creates a database, and stops the server and removes its files when the
// test ends. Stop, Kill and Restart act on this server.
func MustPostgresServer(tb testing.TB) *Postgres {
	tb.Helper()
	srv := newPGServer(tb)
	tb.Cleanup(func() {
		srv.stop(syscall.SIGINT)
		removeAll(tb, srv.dir)
	})
	if err := srv.init(); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	if err := srv.startFreePort(); err != nil {
		tb.Fatalf("testenv: start postgres: %v", err)
	}
	return &Postgres{tb: tb, srv: srv, db: srv.createDB(tb)}
}

// sharedPostgres returns the test binary's shared server, starting it on
// first use. Main stops it.
func sharedPostgres(tb testing.TB) *pgServer {
	tb.Helper()
	procEnv.mu.Lock()
	defer procEnv.mu.Unlock()
	if procEnv.postgres != nil {
		return procEnv.postgres
	}
	srv := newPGServer(tb)
	procEnv.tmpDirs = append(procEnv.tmpDirs, srv.dir)
	// procEnv.mu is held: init must not take it again for the template.
	if err := srv.initLocked(); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	if err := srv.startFreePort(); err != nil {
		tb.Fatalf("testenv: start postgres: %v", err)
	}
	procEnv.postgres = srv
	return srv
}

// DSN returns a connection string for the database, in URL form.
func (p *Postgres) DSN() string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", p.Addr(), p.db)
}

// Addr returns the server's host:port.
func (p *Postgres) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.srv.port))
}

// Database returns the database name.
func (p *Postgres) Database() string { return p.db }

// Stop shuts the server down (fast mode: sessions are ended, committed work
// is kept) and waits for it to exit.
func (p *Postgres) Stop() {
	p.tb.Helper()
	p.mustOwn("Stop")
	p.srv.stop(syscall.SIGINT)
}

// Kill ends the server in immediate mode, as a crash would: no checkpoint,
// and the next start replays the WAL. Only what was committed survives.
func (p *Postgres) Kill() {
	p.tb.Helper()
	p.mustOwn("Kill")
	p.srv.stop(syscall.SIGQUIT)
}

// Restart starts the server again on the same port with the same data and
// waits until it accepts connections. A running server is stopped first.
func (p *Postgres) Restart() {
	p.tb.Helper()
	p.mustOwn("Restart")
	p.srv.stop(syscall.SIGINT)
	if err := RestartOnSamePort(p.srv.start); err != nil {
		p.tb.Fatalf("testenv: restart postgres on %s: %v", p.Addr(), err)
	}
}

func (p *Postgres) mustOwn(op string) {
	p.tb.Helper()
	if p.shared {
		p.tb.Fatalf("testenv: %s on the shared PostgreSQL server; take one with MustPostgresServer", op)
	}
}

// pgServer is one PostgreSQL server process and its files.
type pgServer struct {
	bin  string // directory of postgres, initdb, pg_isready and psql
	dir  string // owned by the server's user; holds data/, the socket and the log
	cred *syscall.Credential
	port int
	dbs  atomic.Int64

	mu   sync.Mutex
	proc *proc
}

func newPGServer(tb testing.TB) *pgServer {
	tb.Helper()
	postgres := lookBinary(tb, "postgres", "postgresql", postgresBinDirs()...)
	// A postgres on PATH may be a link to a versioned directory, where its
	// companion tools live.
	if real, err := filepath.EvalSymlinks(postgres); err == nil {
		postgres = real
	}
	s := &pgServer{bin: filepath.Dir(postgres)}
	for _, tool := range []string{"initdb", "pg_isready", "psql"} {
		if _, err := os.Stat(filepath.Join(s.bin, tool)); err != nil {
			tb.Fatalf("testenv: %s not found beside %s; install the Debian package postgresql", tool, postgres)
		}
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("testenv: PostgreSQL refuses to run as root and there is no postgres user: %v; install the Debian package postgresql, which creates it", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "parley-pg-")
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	s.dir = dir
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			os.RemoveAll(dir)
			tb.Fatalf("testenv: %v", err)
		}
	}
	return s
}

// init fills the data directory: a copy of the test binary's template when
// Main is in use (initdb runs once per binary), a fresh initdb otherwise.
func (s *pgServer) init() error {
	procEnv.mu.Lock()
	defer procEnv.mu.Unlock()
	return s.initLocked()
}

func (s *pgServer) initLocked() error {
	data := filepath.Join(s.dir, "data")
	if !procEnv.sharing {
		return s.initdb(data)
	}
	if procEnv.template == "" {
		tdir, err := os.MkdirTemp("", "parley-pgtemplate-")
		if err != nil {
			return err
		}
		procEnv.tmpDirs = append(procEnv.tmpDirs, tdir)
		if s.cred != nil {
			os.Chown(tdir, int(s.cred.Uid), int(s.cred.Gid))
		}
		if err := s.initdb(filepath.Join(tdir, "data")); err != nil {
			return err
		}
		procEnv.template = filepath.Join(tdir, "data")
	}
	if out, err := exec.Command("cp", "-a", procEnv.template, data).CombinedOutput(); err != nil {
		return fmt.Errorf("copy data directory template: %v\n%s", err, out)
	}
	return nil
}

func (s *pgServer) initdb(data string) error {
	// --no-sync only skips initdb's own final fsync of a throwaway cluster;
	// the server itself runs with fsync on.
	cmd := exec.Command(filepath.Join(s.bin, "initdb"),
		"-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return nil
}

func (s *pgServer) startFreePort() error {
	var err error
	for range 5 {
		if s.port, err = freePort(); err != nil {
			return err
		}
		if err = s.start(); !errAddrInUse(err) {
			return err
		}
	}
	return err
}

func (s *pgServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	argv := []string{filepath.Join(s.bin, "postgres"),
		"-D", filepath.Join(s.dir, "data"),
		"-p", strconv.Itoa(s.port),
		"-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "max_connections=300",
	}
	p, err := startProc(argv, s.dir, filepath.Join(s.dir, "postgres.log"), s.cred)
	if err != nil {
		return err
	}
	ready := func() error {
		out, err := exec.Command(filepath.Join(s.bin, "pg_isready"),
			"-q", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", "postgres", "-d", "postgres").CombinedOutput()
		if err != nil {
			return fmt.Errorf("pg_isready: %v %s", err, out)
		}
		return nil
	}
	if err := waitReady(p, ready); err != nil {
		return err
	}
	s.proc = p
	return nil
}

func (s *pgServer) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.stop(sig)
		s.proc = nil
	}
}

// pid returns the postmaster's process id, or 0 when it is not running.
func (s *pgServer) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// createDB creates a new empty database and returns its name.
func (s *pgServer) createDB(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("test_%d", s.dbs.Add(1))
	if err := s.psql("CREATE DATABASE " + name); err != nil {
		tb.Fatalf("testenv: create database: %v", err)
	}
	return name
}

// psql runs one SQL command as the superuser in database postgres.
func (s *pgServer) psql(sql string) error {
	s.mu.Lock()
	running := s.proc != nil
	s.mu.Unlock()
	if !running {
		return errNotRunning
	}
	cmd := exec.Command(filepath.Join(s.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", "postgres", "-d", "postgres", "-c", sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("psql %q: %v\n%s", sql, err, out)
	}
	return nil
}

// Exec runs one SQL statement in the test's database through psql, for
// test setup and checks that need no driver.
func (p *Postgres) Exec(sql string) (string, error) {
	cmd := exec.Command(filepath.Join(p.srv.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(p.srv.port), "-U", "postgres", "-d", p.db, "-c", sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql %q: %v\n%s", sql, err, out)
	}
	return string(out), nil
}

// Pid returns the server's process id, or 0 when it is not running.
func (p *Postgres) Pid() int { return p.srv.pid() }
