package client

import (
	"context"
	"net/http"

	"github.com/parleyhq/parley"
)

// Sessions lists the caller's live sessions (devices), oldest first.
func (c *Client) Sessions(ctx context.Context) ([]parley.SessionView, error) {
	var out struct {
		Sessions []parley.SessionView `json:"sessions"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/sessions", nil, &out); err != nil {
		return nil, err
	}
	return out.Sessions, nil
}

// RevokeSession ends one of the caller's sessions; its sockets close on
// every node. ENOTFOUND if the caller has no such live session.
func (c *Client) RevokeSession(ctx context.Context, deviceID parley.ID) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/sessions/"+deviceID.String(), nil, nil)
	return err
}

// RevokeOtherSessions ends every session of the caller but this one and
// returns how many it ended.
func (c *Client) RevokeOtherSessions(ctx context.Context) (int, error) {
	var out struct {
		Revoked int `json:"revoked"`
	}
	if _, err := c.do(ctx, http.MethodDelete, "/v1/sessions?others=true", nil, &out); err != nil {
		return 0, err
	}
	return out.Revoked, nil
}

// ChangePassword changes the caller's password; the caller's other
// sessions end. EUNAUTHORIZED for a wrong old password.
func (c *Client) ChangePassword(ctx context.Context, oldPassword, newPassword string) error {
	_, err := c.do(ctx, http.MethodPut, "/v1/me/password", parley.ChangePasswordRequest{OldPassword: oldPassword, NewPassword: newPassword}, nil)
	return err
}

// DeleteAccount deletes the caller's account (docs/api.md says what
// stays) and forgets the token. EUNAUTHORIZED for a wrong password.
func (c *Client) DeleteAccount(ctx context.Context, password string) error {
	body := struct {
		Password string `json:"password"`
	}{password}
	if _, err := c.do(ctx, http.MethodDelete, "/v1/me", body, nil); err != nil {
		return err
	}
	c.SetToken("")
	return nil
}
