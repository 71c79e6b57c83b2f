package parley_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/parleyhq/parley"
)

func TestIDJSON(t *testing.T) {
	b, _ := json.Marshal(struct {
		ID parley.ID `json:"id"`
	}{9007199254740993})
	if string(b) != `{"id":"9007199254740993"}` {
		t.Fatalf("marshal = %s", b)
	}
	for _, tc := range []struct {
		in   string
		want parley.ID
		ok   bool
	}{
		{`"42"`, 42, true}, {`42`, 42, true}, {`"0"`, 0, true}, {`null`, 0, true},
		{`"-1"`, 0, false}, {`"x"`, 0, false}, {`1.5`, 0, false}, {`"99999999999999999999"`, 0, false},
	} {
		var id parley.ID
		err := json.Unmarshal([]byte(tc.in), &id)
		if (err == nil) != tc.ok || id != tc.want {
			t.Errorf("unmarshal %s = %d, %v", tc.in, id, err)
		}
	}
	if _, err := parley.ParseID("0"); err == nil {
		t.Error("ParseID accepts 0")
	}
	var m map[parley.ID]int64
	if err := json.Unmarshal([]byte(`{"7": 3}`), &m); err != nil || m[7] != 3 {
		t.Fatalf("map keys: %v %v", m, err)
	}
}

func TestEventCodec(t *testing.T) {
	e := parley.Event{Name: "message", DeviceID: 3, ExceptDevice: 4, ConversationID: 5, Seq: 6, Data: []byte(`{"a":"\u0000"}`)}
	got, err := parley.DecodeEvent(parley.AppendEvent(nil, &e))
	if err != nil || got.Name != e.Name || got.DeviceID != 3 || got.ExceptDevice != 4 || got.ConversationID != 5 || got.Seq != 6 || string(got.Data) != string(e.Data) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	// A header with the data encoded straight after it is the same event.
	if h := append(parley.AppendEventHeader(nil, &e), e.Data...); string(h) != string(parley.AppendEvent(nil, &e)) {
		t.Errorf("AppendEventHeader + data = %q, want %q", h, parley.AppendEvent(nil, &e))
	}
	for _, bad := range []string{"", "message", "m\x001\x002\x003\x00", "m\x00x\x000\x000\x000\x00{}"} {
		if _, err := parley.DecodeEvent([]byte(bad)); err == nil {
			t.Errorf("DecodeEvent(%q) accepted", bad)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	err := parley.Errorf(parley.ENOTFOUND, "gone")
	if parley.ErrorCode(err) != parley.ENOTFOUND || parley.ErrorMessage(err) != "gone" {
		t.Fatal(err)
	}
	wrapped := parley.WrapError(parley.EUNAVAILABLE, "db down", err)
	if parley.ErrorCode(wrapped) != parley.EUNAVAILABLE || !parley.IsRetryable(wrapped) {
		t.Fatal(wrapped)
	}
	plain := json.Unmarshal([]byte("{"), new(int))
	if parley.ErrorCode(plain) != parley.EINTERNAL || parley.ErrorMessage(plain) != "internal error" {
		t.Fatal("internal errors must not leak details")
	}
	if parley.ErrorCode(nil) != "" {
		t.Fatal("nil")
	}
}

func TestPageLimit(t *testing.T) {
	for _, tc := range []struct {
		limit, def, max, want int
		ok                    bool
	}{
		{0, 50, 200, 50, true}, {1, 50, 200, 1, true}, {200, 50, 200, 200, true},
		{201, 50, 200, 0, false}, {-1, 50, 200, 0, false}, {0, 0, 200, 0, false},
	} {
		got, err := parley.PageLimit(tc.limit, tc.def, tc.max)
		if (err == nil) != tc.ok || got != tc.want || err != nil && parley.ErrorCode(err) != parley.EINVALID {
			t.Errorf("PageLimit(%d, %d, %d) = %d, %v", tc.limit, tc.def, tc.max, got, err)
		}
	}
}

func TestTimerSpans(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lo, hi  int64
		changes []parley.TimerChange
		off, on string
	}{
		{"NeverOn", 0, 100, nil, "[{0 100}]", "[]"},
		{"OnThroughout", 10, 20, []parley.TimerChange{{3, 60}}, "[]", "[{10 20}]"},
		{"OnAtLo", 10, 20, []parley.TimerChange{{10, 60}}, "[]", "[{10 20}]"},
		{"OffBeforeLo", 10, 20, []parley.TimerChange{{3, 60}, {8, 0}}, "[{10 20}]", "[]"},
		{"Empty", 5, 5, []parley.TimerChange{{1, 60}}, "[]", "[]"},
		{"OnThenOff", 0, 100, []parley.TimerChange{{50, 60}, {52, 0}}, "[{0 50} {52 100}]", "[{50 52}]"},
		{"OffAtTheEnd", 0, 100, []parley.TimerChange{{0, 60}, {100, 0}}, "[]", "[{0 100}]"},
		{"ChangesAfterHiIgnored", 10, 20, []parley.TimerChange{{25, 60}}, "[{10 20}]", "[]"},
		{"NewTimerStillOn", 0, 30, []parley.TimerChange{{0, 60}, {10, 3600}, {20, 0}}, "[{20 30}]", "[{0 20}]"},
		{"OffAgain", 0, 30, []parley.TimerChange{{10, 0}, {20, 5}}, "[{0 20}]", "[{20 30}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			off, on := parley.TimerSpans(tc.lo, tc.hi, tc.changes)
			if got := fmt.Sprint(off); got != tc.off {
				t.Errorf("off = %s, want %s", got, tc.off)
			}
			if got := fmt.Sprint(on); got != tc.on {
				t.Errorf("on = %s, want %s", got, tc.on)
			}
		})
	}
}
