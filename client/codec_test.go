package client

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestDecodePacket(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want packet
	}{
		{`0{"sid":"x"}`, packet{typ: sioConnect, nsp: "/", id: noAck, data: []byte(`{"sid":"x"}`)}},
		{`1`, packet{typ: sioDisconnect, nsp: "/", id: noAck, data: []byte{}}},
		{`2["message",{"a":1}]`, packet{typ: sioEvent, nsp: "/", id: noAck, data: []byte(`["message",{"a":1}]`)}},
		{`212["x"]`, packet{typ: sioEvent, nsp: "/", id: 12, data: []byte(`["x"]`)}},
		{`37[{"ok":true}]`, packet{typ: sioAck, nsp: "/", id: 7, data: []byte(`[{"ok":true}]`)}},
		{`2/admin,5["x"]`, packet{typ: sioEvent, nsp: "/admin", id: 5, data: []byte(`["x"]`)}},
		{`4{"message":"unauthorized"}`, packet{typ: sioConnectError, nsp: "/", id: noAck, data: []byte(`{"message":"unauthorized"}`)}},
		{`52-["up",{"_placeholder":true,"num":0}]`, packet{typ: sioBinaryEvent, attachments: 2, nsp: "/", id: noAck, data: []byte(`["up",{"_placeholder":true,"num":0}]`)}},
		{`61-3[{"_placeholder":true,"num":0}]`, packet{typ: sioBinaryAck, attachments: 1, nsp: "/", id: 3, data: []byte(`[{"_placeholder":true,"num":0}]`)}},
	} {
		got, err := decodePacket([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got.typ != tc.want.typ || got.attachments != tc.want.attachments || got.nsp != tc.want.nsp ||
			got.id != tc.want.id || string(got.data) != string(tc.want.data) {
			t.Errorf("%s: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "7", "x", "5[]", "5-[]", "21234567890123456[]"} {
		if _, err := decodePacket([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestAppendEvent(t *testing.T) {
	for _, tc := range []struct {
		id      int64
		event   string
		payload any
		want    string
	}{
		{noAck, "typing", map[string]string{"conversation_id": "1"}, `42["typing",{"conversation_id":"1"}]`},
		{7, "send", json.RawMessage(`{"a":1}`), `427["send",{"a":1}]`},
		{0, "sync", nil, `420["sync"]`},
		{noAck, "quote\"d", "é", `42["quote\"d","é"]`},
	} {
		got, err := appendEvent(nil, tc.id, tc.event, tc.payload)
		if err != nil || string(got) != tc.want {
			t.Errorf("appendEvent(%d, %q) = %s, %v; want %s", tc.id, tc.event, got, err, tc.want)
		}
	}
	if _, err := appendEvent(nil, 1, "x", []byte{1}); err == nil {
		t.Error("binary payload accepted")
	}
	if _, err := appendEvent(nil, 1, "x", json.RawMessage(`{`)); err == nil {
		t.Error("invalid raw JSON accepted")
	}
	got, _ := appendConnect(nil, map[string]string{"token": "t"})
	if string(got) != `40{"token":"t"}` {
		t.Errorf("connect = %s", got)
	}
}

func TestEventName(t *testing.T) {
	for in, want := range map[string]string{`"message"`: "message", `"a\"b"`: `a"b`, `12`: "12"} {
		if got, ok := eventName(json.RawMessage(in)); !ok || got != want {
			t.Errorf("eventName(%s) = %q, %v", in, got, ok)
		}
	}
	for _, bad := range []string{`{}`, `null`, ``} {
		if _, ok := eventName(json.RawMessage(bad)); ok {
			t.Errorf("eventName(%s) accepted", bad)
		}
	}
}

func TestDecodeOpen(t *testing.T) {
	o, err := decodeOpen([]byte(`0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
	if err != nil || o.SID != "abc" || o.heartbeat().Seconds() != 45 || o.MaxPayload != 1_000_000 {
		t.Fatalf("open = %+v, %v", o, err)
	}
	for _, bad := range []string{``, `4{}`, `0{}`, `0{"sid":"x"}`, `0nope`} {
		if _, err := decodeOpen([]byte(bad)); !errors.Is(err, errBadPacket) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":     "ws://127.0.0.1:8080/socket.io/?EIO=4&transport=websocket",
		"https://chat.example/app/": "wss://chat.example/socket.io/?EIO=4&transport=websocket",
		"ws://h:1":                  "ws://h:1/socket.io/?EIO=4&transport=websocket",
	} {
		if got, err := endpoint(in); err != nil || got != want {
			t.Errorf("endpoint(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"127.0.0.1:8080", "ftp://h", "http://"} {
		if _, err := endpoint(bad); err == nil {
			t.Errorf("endpoint(%q) accepted", bad)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	ev := decodeEvent("receipt", json.RawMessage(`{"conversation_id":"3","user_id":"4","delivered_seq":5,"read_seq":2}`))
	if ev.Err != nil || ev.Data == nil {
		t.Fatalf("receipt: %+v", ev)
	}
	if ev := decodeEvent("message", json.RawMessage(`{"seq":"nope"}`)); ev.Err == nil {
		t.Error("bad message decoded")
	}
	if ev := decodeEvent("custom", json.RawMessage(`[1]`)); ev.Data != nil || string(ev.Raw) != `[1]` {
		t.Errorf("unknown event: %+v", ev)
	}
}

func TestConnectError(t *testing.T) {
	err := decodeConnectError([]byte(`{"message":"unauthorized"}`))
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Message != "unauthorized" || ce.Unwrap() == nil {
		t.Fatalf("%v", err)
	}
	if err := decodeConnectError([]byte(`"Invalid namespace"`)); err.(*ConnectError).Message != "Invalid namespace" || !final(err) {
		t.Fatalf("%v", err)
	}
	if final(&ConnectError{Message: "unavailable"}) {
		t.Error("unavailable is final")
	}
}
