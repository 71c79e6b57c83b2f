package main

import (
	"context"
	"fmt"
	"time"

	"github.com/parleyhq/parley"
)

// The admin subcommands, one method each.

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
