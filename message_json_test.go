package parley

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// plain is Message without its MarshalJSON: what encoding/json writes for
// it by reflection, the reference AppendJSON must match byte for byte.
type plain Message

func reference(t testing.TB, m *Message) []byte {
	t.Helper()
	want, err := json.Marshal((*plain)(m))
	if err != nil {
		t.Fatalf("reference encoding: %v", err)
	}
	return want
}

func checkMessageJSON(t testing.TB, m *Message) {
	t.Helper()
	want := reference(t, m)
	got, err := m.AppendJSON([]byte("prefix"))
	if err != nil {
		t.Fatalf("AppendJSON: %v", err)
	}
	if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("AppendJSON differs from encoding/json:\n got %s\nwant %s", got[len("prefix"):], want)
	}
	via, err := json.Marshal(m)
	if err != nil || !bytes.Equal(via, want) {
		t.Fatalf("json.Marshal through MarshalJSON: %s, %v; want %s", via, err, want)
	}
}

// tricky are the pieces random strings are made of: everything
// encoding/json escapes, or replaces, and what it leaves alone.
var tricky = []string{
	"a", "Zz", " ", "\"", "\\", "/", "<", ">", "&", "\b", "\f", "\n", "\r", "\t", "\x00", "\x01", "\x1f", "\x7f",
	"é", "北京", "😀", "👍🏽", "\u2028", "\u2029", "\u2027", "\ufffd", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
}

func randomString(r *rand.Rand) string {
	var sb strings.Builder
	for range r.IntN(12) {
		if r.IntN(5) == 0 {
			sb.WriteByte(byte(r.IntN(256)))
		} else {
			sb.WriteString(tricky[r.IntN(len(tricky))])
		}
	}
	return sb.String()
}

func randomTime(r *rand.Rand) time.Time {
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+30*60), time.FixedZone("X", -7*3600)}
	t := time.Unix(r.Int64N(4102444800), 0).In(zones[r.IntN(len(zones))])
	switch r.IntN(3) {
	case 0:
	case 1:
		t = t.Add(time.Duration(r.IntN(1000)) * time.Millisecond)
	default:
		t = t.Add(time.Duration(r.IntN(1e9)))
	}
	return t
}

func randomMessage(r *rand.Rand) *Message {
	id := func() ID {
		if r.IntN(2) == 0 {
			return 0
		}
		return ID(r.Int64())
	}
	tp := func() *time.Time {
		if r.IntN(2) == 0 {
			return nil
		}
		t := randomTime(r)
		return &t
	}
	types := []MessageType{TextMessage, ImageMessage, FileMessage, RecallEntry, EditEntry, ReactionEntry, SettingEntry, MessageType(randomString(r))}
	m := &Message{
		ID: ID(r.Int64()), ConversationID: ID(r.Int64()), Seq: r.Int64(), SenderID: ID(r.Int64()), SenderDeviceID: ID(r.Int64()),
		ClientMsgID: randomString(r), Type: types[r.IntN(len(types))], Body: randomString(r),
		MediaID: id(), ReplyTo: id(), RecallOf: id(), EditOf: id(), ReactionOf: id(), Forwarded: r.IntN(2) == 0,
		CreatedAt: randomTime(r), RecalledAt: tp(), EditedAt: tp(), ExpiresAt: tp(),
	}
	if r.IntN(4) == 0 {
		m.Media = &Media{ID: ID(r.Int64()), OwnerID: ID(r.Int64()), SHA256: randomString(r), Size: r.Int64(), ContentType: "image/png"}
	}
	switch r.IntN(4) {
	case 0:
		m.Reactions = []Reaction{}
	case 1:
		m.Reactions = []Reaction{{Emoji: "👍", Count: 3, UserIDs: []ID{1, 2, 3}}, {Emoji: randomString(r), Count: 1, UserIDs: []ID{}}}
	}
	if r.IntN(3) == 0 {
		d := r.Int64N(7776001) - 1
		m.DisappearAfter = &d
	}
	return m
}

func TestMessageAppendJSONMatchesEncodingJSON(t *testing.T) {
	checkMessageJSON(t, &Message{}) // every optional field absent
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		checkMessageJSON(t, randomMessage(r))
	}
}

func TestMessageAppendJSONRefusesWhatEncodingJSONRefuses(t *testing.T) {
	for _, m := range []*Message{
		{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{CreatedAt: time.Now(), EditedAt: &time.Time{}}, // year 1: fine
		{CreatedAt: time.Now(), ExpiresAt: func() *time.Time { t := time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC); return &t }()},
	} {
		_, refErr := json.Marshal((*plain)(m))
		_, err := m.AppendJSON(nil)
		if (err == nil) != (refErr == nil) {
			t.Errorf("%v: AppendJSON error %v, encoding/json %v", m.CreatedAt, err, refErr)
		}
		if refErr == nil {
			checkMessageJSON(t, m)
		}
	}
}

func FuzzMessageJSON(f *testing.F) {
	f.Add("hello <b>&</b>", "c-1", "text", int64(1700000000123456789), int64(3))
	f.Add("\u2028\xff\x00\"\\", "", "edit", int64(0), int64(-1))
	f.Fuzz(func(t *testing.T, body, cmid, typ string, nanos, n int64) {
		created := time.Unix(0, nanos).UTC()
		m := &Message{ID: ID(n), ConversationID: ID(-n), Seq: n, Body: body, ClientMsgID: cmid, Type: MessageType(typ), CreatedAt: created}
		if n%2 == 0 {
			m.EditedAt = &created
			m.ReplyTo = ID(n)
		}
		checkMessageJSON(t, m)
	})
}

func BenchmarkMessageJSON(b *testing.B) {
	m := &Message{ID: 123456789, ConversationID: 42, Seq: 1000, SenderID: 7, ClientMsgID: "c-9f2a1b", Type: TextMessage,
		Body: strings.Repeat("hello wörld ", 5), CreatedAt: time.Now().UTC()}
	b.Run("AppendJSON", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf, _ = m.AppendJSON(buf[:0])
		}
	})
	b.Run("reflection", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal((*plain)(m))
		}
	})
}
