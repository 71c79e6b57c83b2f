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

// userJSON is a user as the admin command shows it.
type userJSON struct {
	ID          parley.ID  `json:"id"`
	Handle      string     `json:"handle"`
	DisplayName string     `json:"display_name"`
	CreatedAt   time.Time  `json:"created_at"`
	Status      string     `json:"status"`
	DisabledAt  *time.Time `json:"disabled_at,omitempty"`
	// Password is set only when the command made one up.
	Password string             `json:"password,omitempty"`
	Sessions []sessionAdminJSON `json:"sessions,omitempty"`
}

type sessionAdminJSON struct {
	ID         parley.ID `json:"id"`
	UserID     parley.ID `json:"user_id"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
}

func userView(u *parley.User) userJSON {
	status := "active"
	switch {
	case u.Deleted:
		status = "deleted"
	case u.DisabledAt != nil:
		status = "disabled"
	}
	return userJSON{ID: u.ID, Handle: u.Handle, DisplayName: u.DisplayName, CreatedAt: u.CreatedAt.UTC(), Status: status, DisabledAt: u.DisabledAt}
}

func (a *admin) userCreate(ctx context.Context, pos []string, f adminFlags) error {
	if err := wantArgs(pos, 1, "a handle"); err != nil {
		return err
	}
	pw, generated, err := a.password(f.passwordStdin)
	if err != nil {
		return err
	}
	u, err := a.app.CreateUser(ctx, parley.RegisterRequest{Handle: pos[0], Password: pw, DisplayName: f.displayName})
	if err != nil {
		return adminError(err)
	}
	v := userView(u)
	if generated {
		v.Password = pw
	}
	if a.json {
		return a.printJSON(v)
	}
	fmt.Fprintf(a.out, "created user %s (id %s)\n", u.Handle, u.ID)
	if generated {
		fmt.Fprintf(a.out, "password: %s\n", pw)
	}
	return nil
}

func (a *admin) userList(ctx context.Context, pos []string) error {
	if err := wantArgs(pos, 0, "no arguments"); err != nil {
		return err
	}
	all := []userJSON{}
	var after parley.ID
	for {
		us, err := a.store.ListUsers(ctx, after, 500)
		if err != nil {
			return adminError(err)
		}
		for _, u := range us {
			all = append(all, userView(u))
		}
		if len(us) < 500 {
			break
		}
		after = us[len(us)-1].ID
	}
	if a.json {
		return a.printJSON(all)
	}
	var rows [][]string
	for _, u := range all {
		rows = append(rows, []string{u.ID.String(), u.Handle, u.DisplayName, u.CreatedAt.Format(time.RFC3339), u.Status})
	}
	return a.table("ID\tHANDLE\tDISPLAY NAME\tCREATED\tSTATUS", rows)
}

func (a *admin) sessionsOf(ctx context.Context, u *parley.User) ([]sessionAdminJSON, error) {
	ds, err := a.store.Devices(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	out := []sessionAdminJSON{}
	for _, d := range ds {
		out = append(out, sessionAdminJSON{ID: d.ID, UserID: d.UserID, Name: d.Name, CreatedAt: d.CreatedAt.UTC(), LastSeenAt: d.LastSeenAt.UTC()})
	}
	return out, nil
}

func (a *admin) userShow(ctx context.Context, pos []string) error {
	if err := wantArgs(pos, 1, "a user id or handle"); err != nil {
		return err
	}
	u, err := a.findUser(ctx, pos[0])
	if err != nil {
		return adminError(err)
	}
	v := userView(u)
	if v.Sessions, err = a.sessionsOf(ctx, u); err != nil {
		return adminError(err)
	}
	if a.json {
		return a.printJSON(v)
	}
	fmt.Fprintf(a.out, "id:           %s\nhandle:       %s\ndisplay name: %s\ncreated:      %s\nstatus:       %s\nsessions:     %d\n",
		v.ID, v.Handle, v.DisplayName, v.CreatedAt.Format(time.RFC3339), v.Status, len(v.Sessions))
	return nil
}

// userSet runs one change on a user and says what it did.
func (a *admin) userSet(ctx context.Context, pos []string, fn func(context.Context, parley.ID) error, did string) error {
	if err := wantArgs(pos, 1, "a user id or handle"); err != nil {
		return err
	}
	u, err := a.findUser(ctx, pos[0])
	if err != nil {
		return adminError(err)
	}
	if err := fn(ctx, u.ID); err != nil {
		return adminError(err)
	}
	if a.json {
		return a.printJSON(map[string]any{"id": u.ID, "handle": u.Handle, "result": did})
	}
	fmt.Fprintf(a.out, "%s user %s (id %s)\n", did, u.Handle, u.ID)
	return nil
}

func (a *admin) userResetPassword(ctx context.Context, pos []string, f adminFlags) error {
	if err := wantArgs(pos, 1, "a user id or handle"); err != nil {
		return err
	}
	u, err := a.findUser(ctx, pos[0])
	if err != nil {
		return adminError(err)
	}
	pw, generated, err := a.password(f.passwordStdin)
	if err != nil {
		return err
	}
	if err := a.app.ResetPassword(ctx, u.ID, pw); err != nil {
		return adminError(err)
	}
	res := map[string]any{"id": u.ID, "handle": u.Handle, "result": "password reset"}
	if generated {
		res["password"] = pw
	}
	if a.json {
		return a.printJSON(res)
	}
	fmt.Fprintf(a.out, "reset the password of %s (id %s); its sessions ended\n", u.Handle, u.ID)
	if generated {
		fmt.Fprintf(a.out, "password: %s\n", pw)
	}
	return nil
}

func (a *admin) sessionsList(ctx context.Context, pos []string) error {
	if err := wantArgs(pos, 1, "a user id or handle"); err != nil {
		return err
	}
	u, err := a.findUser(ctx, pos[0])
	if err != nil {
		return adminError(err)
	}
	ss, err := a.sessionsOf(ctx, u)
	if err != nil {
		return adminError(err)
	}
	if a.json {
		return a.printJSON(ss)
	}
	var rows [][]string
	for _, s := range ss {
		rows = append(rows, []string{s.ID.String(), s.Name, s.CreatedAt.Format(time.RFC3339), s.LastSeenAt.Format(time.RFC3339)})
	}
	return a.table("DEVICE ID\tNAME\tCREATED\tLAST SEEN", rows)
}

func (a *admin) sessionsRevoke(ctx context.Context, pos []string, f adminFlags) error {
	n := 0
	switch {
	case f.user != "" && len(pos) == 0:
		u, err := a.findUser(ctx, f.user)
		if err != nil {
			return adminError(err)
		}
		if n, err = a.app.RevokeUserSessions(ctx, u.ID); err != nil {
			return adminError(err)
		}
	case f.user == "" && len(pos) == 1:
		id, err := parley.ParseID(pos[0])
		if err != nil {
			return adminError(err)
		}
		if err := a.app.RevokeDevice(ctx, id); err != nil {
			return adminError(err)
		}
		n = 1
	default:
		return fmt.Errorf("want a device id or --user\n\n%s", adminUsage)
	}
	if a.json {
		return a.printJSON(map[string]int{"revoked": n})
	}
	fmt.Fprintf(a.out, "revoked %d session(s)\n", n)
	return nil
}

func (a *admin) inviteCreate(ctx context.Context, pos []string, f adminFlags) error {
	if err := wantArgs(pos, 0, "no arguments"); err != nil {
		return err
	}
	inv, err := a.app.CreateInvite(ctx, f.uses, f.expires, f.note)
	if err != nil {
		return adminError(err)
	}
	if a.json {
		return a.printJSON(inv)
	}
	fmt.Fprintf(a.out, "invite %s: %s (uses %d, expires %s)\n", inv.ID, inv.Code, inv.MaxUses, when(inv.ExpiresAt))
	return nil
}

func (a *admin) inviteList(ctx context.Context, pos []string) error {
	if err := wantArgs(pos, 0, "no arguments"); err != nil {
		return err
	}
	invs, err := a.app.Invites(ctx)
	if err != nil {
		return adminError(err)
	}
	if invs == nil {
		invs = []*parley.Invite{}
	}
	if a.json {
		return a.printJSON(invs)
	}
	now := time.Now()
	var rows [][]string
	for _, inv := range invs {
		status := "usable"
		switch {
		case inv.RevokedAt != nil:
			status = "revoked"
		case inv.Uses >= inv.MaxUses:
			status = "used up"
		case !inv.Usable(now):
			status = "expired"
		}
		rows = append(rows, []string{inv.ID.String(), fmt.Sprintf("%d/%d", inv.Uses, inv.MaxUses), when(inv.ExpiresAt), status, inv.Note})
	}
	return a.table("ID\tUSES\tEXPIRES\tSTATUS\tNOTE", rows)
}

func (a *admin) inviteRevoke(ctx context.Context, pos []string) error {
	if err := wantArgs(pos, 1, "an invite id"); err != nil {
		return err
	}
	id, err := parley.ParseID(pos[0])
	if err != nil {
		return adminError(err)
	}
	if err := a.app.RevokeInvite(ctx, id); err != nil {
		return adminError(err)
	}
	if a.json {
		return a.printJSON(map[string]any{"id": id, "result": "revoked"})
	}
	fmt.Fprintf(a.out, "revoked invite %s\n", id)
	return nil
}

// adminError keeps the message of an application error, which is written
// for people, and the whole chain of any other.
func adminError(err error) error {
	if c := parley.ErrorCode(err); c != parley.EINTERNAL {
		return errors.New(parley.ErrorMessage(err))
	}
	return err
}
