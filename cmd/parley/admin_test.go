package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/testenv"
)

// TestAdminSQLite runs every admin subcommand as a second process on the
// database file of a running server.
func TestAdminSQLite(t *testing.T) {
	cfg := testConfig(t)
	cfg.Registration = "invite"
	testAdmin(t, cfg, []string{"PARLEY_DATA_DIR=" + cfg.DataDir})
}

// TestAdminPostgres runs every admin subcommand beside a running server
// on the same PostgreSQL database.
func TestAdminPostgres(t *testing.T) {
	cfg := testConfig(t)
	cfg.Registration = "invite"
	cfg.Store, cfg.PostgresDSN = "postgres", testenv.MustPostgres(t).DSN()
	testAdmin(t, cfg, []string{"PARLEY_DATA_DIR=" + cfg.DataDir, "PARLEY_STORE=postgres", "PARLEY_POSTGRES_DSN=" + cfg.PostgresDSN})
}

// adminRunner runs the admin command in a child process.
type adminRunner struct {
	t   *testing.T
	env []string
}

func (a adminRunner) try(stdin string, args ...string) (string, error) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PARLEY_TEST_CHILD=serve", "PARLEY_ARGON2_MEMORY_KIB=64", "PARLEY_ARGON2_TIME=1")
	cmd.Env = append(cmd.Env, a.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

func (a adminRunner) run(stdin string, args ...string) string {
	a.t.Helper()
	out, err := a.try(stdin, args...)
	if err != nil {
		a.t.Fatalf("parley %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (a adminRunner) json(v any, args ...string) {
	a.t.Helper()
	out := a.run("", append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		a.t.Fatalf("parley %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (a adminRunner) fails(args ...string) string {
	a.t.Helper()
	out, err := a.try("", args...)
	if err == nil {
		a.t.Fatalf("parley %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	return out
}

func testAdmin(t *testing.T, cfg Config, env []string) {
	m := MustRunMain(t, cfg)
	c := newClient(t, m.Addr())
	adm := adminRunner{t: t, env: env}
	login := func(handle, pw string, status int) session {
		t.Helper()
		var s session
		if got := c.do("POST", "/v1/sessions", map[string]string{"handle": handle, "password": pw, "device_name": "phone"}, &s); got != status {
			t.Fatalf("login %s = %d, want %d", handle, got, status)
		}
		return s
	}

	var ann userJSON
	adm.json(&ann, "user", "create", "ann", "--display-name", "Ann")
	if ann.Handle != "ann" || ann.DisplayName != "Ann" || ann.Status != "active" || len(ann.Password) < 16 {
		t.Fatalf("user create = %+v", ann)
	}
	annPW := ann.Password
	if out := adm.run("bob-password-1\n", "user", "create", "bob", "--password-stdin"); !strings.Contains(out, "created user bob") {
		t.Fatalf("user create (table) = %q", out)
	}
	login("bob", "bob-password-1", http.StatusCreated)
	if out := adm.fails("user", "create", "ANN"); !strings.Contains(out, "taken") {
		t.Fatalf("a taken handle: %q", out)
	}

	t.Run("List", func(t *testing.T) {
		out := adm.run("", "user", "list")
		if !strings.Contains(out, "HANDLE") || !strings.Contains(out, "ann") || !strings.Contains(out, "bob") {
			t.Fatalf("user list =\n%s", out)
		}
		var all []userJSON
		adm.json(&all, "user", "list")
		if len(all) != 2 || all[0].ID != ann.ID {
			t.Fatalf("user list --json = %+v", all)
		}
	})

	s := login("ann", annPW, http.StatusCreated)
	sock := mustSocket(t, m.Addr(), s.Token)
	t.Run("ShowAndSessions", func(t *testing.T) {
		var shown userJSON
		adm.json(&shown, "user", "show", ann.ID.String())
		if shown.Handle != "ann" || len(shown.Sessions) != 1 || shown.Sessions[0].ID.String() != s.DeviceID {
			t.Fatalf("user show = %+v", shown)
		}
		if out := adm.run("", "user", "show", "ann"); !strings.Contains(out, "status:       active") {
			t.Fatalf("user show (text) =\n%s", out)
		}
		var ss []sessionAdminJSON
		adm.json(&ss, "sessions", "list", "ann")
		if len(ss) != 1 || ss[0].ID.String() != s.DeviceID || ss[0].Name != "phone" {
			t.Fatalf("sessions list = %+v", ss)
		}
		if out := adm.run("", "sessions", "list", "ann"); !strings.Contains(out, "DEVICE ID") || !strings.Contains(out, s.DeviceID) {
			t.Fatalf("sessions list (table) =\n%s", out)
		}
	})
	t.Run("RevokeSession", func(t *testing.T) {
		adm.run("", "sessions", "revoke", s.DeviceID)
		wantClosed(t, "a session revoked by the admin command", sock)
		c.with(s.Token).want("GET", "/v1/me", nil, http.StatusUnauthorized, parley.EUNAUTHORIZED)
		adm.fails("sessions", "revoke", s.DeviceID)
	})
	t.Run("RevokeUserSessions", func(t *testing.T) {
		a, b := login("ann", annPW, http.StatusCreated), login("ann", annPW, http.StatusCreated)
		sa, sb := mustSocket(t, m.Addr(), a.Token), mustSocket(t, m.Addr(), b.Token)
		var res struct{ Revoked int }
		adm.json(&res, "sessions", "revoke", "--user", "ann")
		if res.Revoked != 2 {
			t.Fatalf("sessions revoke --user = %+v", res)
		}
		wantClosed(t, "every session of a user", sa, sb)
	})
	t.Run("DisableEnable", func(t *testing.T) {
		a := login("ann", annPW, http.StatusCreated)
		sa := mustSocket(t, m.Addr(), a.Token)
		adm.run("", "user", "disable", "ann")
		wantClosed(t, "a disabled user's session", sa)
		login("ann", annPW, http.StatusForbidden)
		var shown userJSON
		adm.json(&shown, "user", "show", "ann")
		if shown.Status != "disabled" {
			t.Fatalf("disabled user = %+v", shown)
		}
		adm.run("", "user", "enable", "ann")
		login("ann", annPW, http.StatusCreated)
	})
	t.Run("ResetPassword", func(t *testing.T) {
		a := login("ann", annPW, http.StatusCreated)
		sa := mustSocket(t, m.Addr(), a.Token)
		adm.run("ann-new-password\n", "user", "reset-password", "ann", "--password-stdin")
		wantClosed(t, "a session after a password reset", sa)
		login("ann", annPW, http.StatusUnauthorized)
		login("ann", "ann-new-password", http.StatusCreated)
		var res struct{ Password string }
		adm.json(&res, "user", "reset-password", "bob")
		login("bob", res.Password, http.StatusCreated)
		annPW = "ann-new-password"
	})
	t.Run("Invites", func(t *testing.T) {
		register := func(h, code string, status int) {
			t.Helper()
			c.want("POST", "/v1/users", map[string]string{"handle": h, "password": "pw-" + h + "-long", "invite": code}, status, map[int]string{http.StatusCreated: "", http.StatusForbidden: parley.EFORBIDDEN}[status])
		}
		register("carl", "", http.StatusForbidden)
		var inv parley.Invite
		adm.json(&inv, "invite", "create", "--uses", "2", "--expires", "1h", "--note", "for carl")
		if inv.Code == "" || inv.MaxUses != 2 || inv.ExpiresAt == nil {
			t.Fatalf("invite create = %+v", inv)
		}
		register("carl", inv.Code, http.StatusCreated)
		var invs []parley.Invite
		adm.json(&invs, "invite", "list")
		if len(invs) != 1 || invs[0].Uses != 1 || invs[0].Code != "" {
			t.Fatalf("invite list = %+v", invs)
		}
		if out := adm.run("", "invite", "list"); !strings.Contains(out, "for carl") || !strings.Contains(out, "1/2") {
			t.Fatalf("invite list (table) =\n%s", out)
		}
		adm.run("", "invite", "revoke", inv.ID.String())
		register("dora", inv.Code, http.StatusForbidden)
		if out := adm.run("", "invite", "create"); !strings.Contains(out, "uses 1") {
			t.Fatalf("invite create (text) = %q", out)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		a := login("ann", annPW, http.StatusCreated)
		sa := mustSocket(t, m.Addr(), a.Token)
		adm.run("", "user", "delete", "ann")
		wantClosed(t, "a deleted user's session", sa)
		login("ann", annPW, http.StatusUnauthorized)
		var again userJSON
		adm.json(&again, "user", "create", "ann")
		if again.ID == ann.ID {
			t.Fatalf("the handle went to the deleted account again: %+v", again)
		}
		var shown userJSON
		adm.json(&shown, "user", "show", ann.ID.String())
		if shown.Status != "deleted" || shown.Handle != "" {
			t.Fatalf("deleted user = %+v", shown)
		}
	})
	if out := adm.fails("user", "frobnicate"); !strings.Contains(out, "unknown command") {
		t.Fatalf("unknown subcommand: %q", out)
	}
}
