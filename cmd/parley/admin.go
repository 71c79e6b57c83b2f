package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/argon2id"
	"github.com/parleyhq/parley/blob"
	"github.com/parleyhq/parley/inmem"
)

// The admin command works on the store directly, beside running servers
// (on SQLite as a second process on the same file: writes wait for the
// server's writer through the busy timeout). It publishes nothing a
// server hears: the servers close the sockets of sessions it ends when
// they next read the feed of ended sessions.

// adminUsage lists the admin subcommands.
const adminUsage = `Usage:
  parley user create <handle> [--display-name NAME] [--password-stdin]
  parley user list
  parley user show <id|handle>
  parley user disable|enable <id|handle>
  parley user reset-password <id|handle> [--password-stdin]
  parley user delete <id|handle>
  parley sessions list <id|handle>
  parley sessions revoke <device-id> | --user <id|handle>
  parley invite create [--uses N] [--expires DURATION] [--note TEXT]
  parley invite list
  parley invite revoke <invite-id>

Each takes --json for output scripts can read, and the server's store
flags (--store, --data-dir, --postgres-dsn, ...) or their PARLEY_*
environment variables. Without --password-stdin a password is generated
and printed once.`

// admin is one run of an admin subcommand.
type admin struct {
	cfg    Config
	out    io.Writer
	in     io.Reader
	json   bool
	store  parley.Store
	app    *app.App
	closer []func() error
}

// adminFlags are the flags of admin subcommands beside the store's.
type adminFlags struct {
	json          bool
	displayName   string
	passwordStdin bool
	user          string
	uses          int
	expires       time.Duration
	note          string
}

func runAdmin(ctx context.Context, cmd string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, adminUsage)
		return nil
	}
	verb, args := args[0], args[1:]
	cfg := DefaultConfig()
	fs := flagSet(cmd+" "+verb, &cfg, stderr)
	var f adminFlags
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	fs.StringVar(&f.displayName, "display-name", "", "display name of the new user")
	fs.BoolVar(&f.passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	fs.StringVar(&f.user, "user", "", "sessions revoke: end every session of this user (id or handle)")
	fs.IntVar(&f.uses, "uses", 1, "invite create: how many sign-ups the code allows")
	fs.DurationVar(&f.expires, "expires", 7*24*time.Hour, "invite create: how long the code is valid (0: no expiry)")
	fs.StringVar(&f.note, "note", "", "invite create: a note for the operator (whom it is for)")
	fs.Usage = func() { fmt.Fprintln(stderr, adminUsage) }
	pos, err := parseInterleaved(fs, args, getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	a := &admin{cfg: cfg, out: stdout, in: stdin, json: f.json}
	if err := a.open(ctx); err != nil {
		return err
	}
	defer a.close()
	switch cmd + " " + verb {
	case "user create":
		return a.userCreate(ctx, pos, f)
	case "user list":
		return a.userList(ctx, pos)
	case "user show":
		return a.userShow(ctx, pos)
	case "user disable":
		return a.userSet(ctx, pos, a.app.DisableUser, "disabled")
	case "user enable":
		return a.userSet(ctx, pos, a.app.EnableUser, "enabled")
	case "user reset-password":
		return a.userResetPassword(ctx, pos, f)
	case "user delete":
		return a.userSet(ctx, pos, a.app.DeleteUser, "deleted")
	case "sessions list":
		return a.sessionsList(ctx, pos)
	case "sessions revoke":
		return a.sessionsRevoke(ctx, pos, f)
	case "invite create":
		return a.inviteCreate(ctx, pos, f)
	case "invite list":
		return a.inviteList(ctx, pos)
	case "invite revoke":
		return a.inviteRevoke(ctx, pos)
	}
	return fmt.Errorf("unknown command %q\n\n%s", cmd+" "+verb, adminUsage)
}

// parseInterleaved applies the environment, then parses args allowing
// flags after positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string, getenv func(string) string) ([]string, error) {
	if err := parse(fs, nil, getenv); err != nil {
		return nil, err
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func (a *admin) open(ctx context.Context) error {
	logger := a.cfg.logger(io.Discard)
	m := &Main{Config: a.cfg, Logger: logger}
	store, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	a.store = store
	a.closer = append(a.closer, store.Close)
	bus := inmem.NewBus()
	a.closer = append(a.closer, bus.Close)
	blobs, err := a.openBlobs()
	if err != nil {
		return fmt.Errorf("open media store: %w", err)
	}
	a.app, err = app.New(ctx, app.Config{MediaGrace: a.cfg.MediaGrace}, app.Deps{
		Store: store, Bus: bus, Presence: inmem.NewPresence(), Logger: logger, Blobs: blobs,
		Hasher: argon2id.New(argon2id.Params{MemoryKiB: uint32(a.cfg.Argon2MemoryKiB), Time: uint32(a.cfg.Argon2Time), Threads: 1}),
	})
	if err != nil {
		return err
	}
	a.closer = append(a.closer, a.app.Close)
	return nil
}

// openBlobs opens the media store as the server does, without touching
// the server's upload directory.
func (a *admin) openBlobs() (parley.BlobStore, error) {
	cfg := a.cfg
	if cfg.S3Endpoint == "" {
		return blob.NewDisk(cfg.mediaDir())
	}
	s, err := blob.NewS3(blob.S3Config{
		Endpoint: cfg.S3Endpoint, PathStyle: cfg.S3PathStyle, Region: cfg.S3Region, Bucket: cfg.S3Bucket,
		AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey, Prefix: cfg.S3Prefix,
	})
	if err != nil {
		return nil, err
	}
	a.closer = append(a.closer, s.Close)
	return s, nil
}

func (a *admin) close() {
	for i := len(a.closer) - 1; i >= 0; i-- {
		a.closer[i]()
	}
}

func wantArgs(pos []string, n int, what string) error {
	if len(pos) != n {
		return fmt.Errorf("want %s\n\n%s", what, adminUsage)
	}
	return nil
}

// findUser resolves an id or a handle.
func (a *admin) findUser(ctx context.Context, ref string) (*parley.User, error) {
	if id, err := parley.ParseID(ref); err == nil {
		u, err := a.store.User(ctx, id)
		if err == nil {
			return u, nil
		}
		if parley.ErrorCode(err) != parley.ENOTFOUND {
			return nil, err
		}
	}
	u, _, err := a.store.UserCredentials(ctx, strings.TrimPrefix(ref, "@"))
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil, fmt.Errorf("no user %q", ref)
	}
	return u, err
}

// password reads it from standard input, or makes one up.
func (a *admin) password(fromStdin bool) (pw string, generated bool, err error) {
	if !fromStdin {
		b := make([]byte, 15)
		if _, err := rand.Read(b); err != nil {
			return "", false, err
		}
		return base64.RawURLEncoding.EncodeToString(b), true, nil
	}
	line, err := bufio.NewReader(a.in).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", false, fmt.Errorf("read the password from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), false, nil
}

func (a *admin) printJSON(v any) error {
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *admin) table(header string, rows [][]string) error {
	w := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	return w.Flush()
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// adminError keeps the message of an application error, which is written
// for people, and the whole chain of any other.
func adminError(err error) error {
	if c := parley.ErrorCode(err); c != parley.EINTERNAL {
		return errors.New(parley.ErrorMessage(err))
	}
	return err
}
