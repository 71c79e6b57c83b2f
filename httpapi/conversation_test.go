package httpapi

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
)

// oneCaller authenticates every token as user 1 on device 2.
type oneCaller struct{ parley.AccountService }

func (oneCaller) Authenticate(context.Context, string) (parley.Caller, error) {
	return parley.Caller{UserID: 1, DeviceID: 2}, nil
}

// updates records the conversation updates it is asked for and answers
// with err, or with the conversation as updated.
type updates struct {
	parley.ConversationService
	got []parley.ConversationUpdate
	err error
}

func (u *updates) UpdateConversation(_ context.Context, c parley.Caller, id parley.ID, upd parley.ConversationUpdate) (*parley.ConversationView, error) {
	u.got = append(u.got, upd)
	if u.err != nil {
		return nil, u.err
	}
	v := &parley.ConversationView{ID: id, Type: parley.Group}
	if upd.Title != nil {
		v.Title = *upd.Title
	}
	if upd.DisappearAfter != nil {
		v.DisappearAfter = *upd.DisappearAfter
	}
	return v, nil
}

func TestUpdateConversation(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
		err              error
		status           int
		code             string
		want             string // the update the service was asked for, "" for none
	}{
		{"Title", "/v1/conversation/7", `{"title":"Team"}`, nil, 200, "", "title=Team"},
		{"Timer", "/v1/conversation/7", `{"disappear_after":3600}`, nil, 200, "", "disappear_after=3600"},
		{"TimerOff", "/v1/conversation/7", `{"disappear_after":0}`, nil, 200, "", "disappear_after=0"},
		{"Both", "/v1/conversation/7", `{"title":"Team","disappear_after":60}`, nil, 200, "", "title=Team disappear_after=60"},
		{"ErrNothing", "/v1/conversation/7", `{}`, nil, 400, "invalid", ""},
		{"ErrNotANumber", "/v1/conversation/7", `{"disappear_after":"1h"}`, nil, 400, "invalid", ""},
		{"ErrFraction", "/v1/conversation/7", `{"disappear_after":1.5}`, nil, 400, "invalid", ""},
		{"ErrBadID", "/v1/conversation/x", `{"disappear_after":60}`, nil, 404, "not_found", ""},
		{"ErrRefused", "/v1/conversation/7", `{"disappear_after":60}`, parley.Errorf(parley.EFORBIDDEN, "no"), 403, "forbidden", "disappear_after=60"},
		{"ErrNotMember", "/v1/conversation/7", `{"disappear_after":60}`, parley.Errorf(parley.ENOTFOUND, "no"), 404, "not_found", "disappear_after=60"},
		{"ErrOutOfRange", "/v1/conversation/7", `{"disappear_after":3}`, parley.Errorf(parley.EINVALID, "no"), 400, "invalid", "disappear_after=3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := &updates{err: tc.err}
			h := New(Services{Accounts: oneCaller{}, Conversations: svc}, Config{}, nil)
			r := httptest.NewRequest("PATCH", tc.path, strings.NewReader(tc.body))
			r.Header.Set("Authorization", "Bearer t")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.code != "" {
				var body errorBody
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != tc.code {
					t.Fatalf("error = %s, want code %s", w.Body, tc.code)
				}
			} else {
				var v parley.ConversationView
				if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || v.ID != 7 {
					t.Fatalf("body = %s, %v", w.Body, err)
				}
			}
			var asked []string
			for _, u := range svc.got {
				var parts []string
				if u.Title != nil {
					parts = append(parts, "title="+*u.Title)
				}
				if u.DisappearAfter != nil {
					parts = append(parts, "disappear_after="+strconv.FormatInt(*u.DisappearAfter, 10))
				}
				asked = append(asked, strings.Join(parts, " "))
			}
			if got := strings.Join(asked, ";"); got != tc.want {
				t.Fatalf("service asked for %q, want %q", got, tc.want)
			}
		})
	}
}
