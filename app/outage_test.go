package app_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
)

// outageStore is the test's store with message reads that fail as an
// unreachable database does, on demand.
type outageStore struct {
	parley.Store
	down atomic.Bool
}

func (s *outageStore) Message(ctx context.Context, id parley.ID) (*parley.Message, error) {
	if s.down.Load() {
		return nil, parley.Errorf(parley.EUNAVAILABLE, "database unavailable")
	}
	return s.Store.Message(ctx, id)
}

// TestStoreOutageIsRetryable checks that an outage while a send or a
// recall looks up a message is answered unavailable (retry), never as if
// the message did not exist.
func TestStoreOutageIsRetryable(t *testing.T) {
	ctx := context.Background()
	st := &outageStore{}
	e := MustAppWith(t, app.Config{}, app.Deps{Store: st})
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	m, _, err := e.app.Send(ctx, a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "orig", Body: "hello"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.down.Store(true)
	t.Run("ReplyTo", func(t *testing.T) {
		_, _, err := e.app.Send(ctx, b.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "re", Body: "re", ReplyTo: m.ID}, nil)
		wantCode(t, err, parley.EUNAVAILABLE)
	})
	t.Run("Recall", func(t *testing.T) {
		_, err := e.app.Recall(ctx, a.c, conv, m.ID)
		wantCode(t, err, parley.EUNAVAILABLE)
	})
	st.down.Store(false)
	t.Run("AfterTheOutage", func(t *testing.T) {
		if _, _, err := e.app.Send(ctx, b.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "re", Body: "re", ReplyTo: m.ID}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.Recall(ctx, a.c, conv, m.ID); err != nil {
			t.Fatal(err)
		}
	})
}
