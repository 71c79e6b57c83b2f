package sqlite

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/textsearch"
)

// TestDocBatchIsJSON: the search entries go into their JSON array without
// escaping, so whatever a message says, the array must parse and give back
// each entry's scoped words; entries without words, and entries of types
// not indexed, are left out.
func TestDocBatchIsJSON(t *testing.T) {
	bodies := []string{
		`plain words`,
		`"quoted" and \back\slashed\ and 'single'`,
		"control\x00chars\x01\x1f\ttab\nnewline\r\x7f",
		"line\u2028and\u2029paragraph separators",
		"invalid \xff\xfe utf-8 \xc3",
		"日本語の文と emoji 😀👍🏽 and accents: café naïve Ωmega",
		`<html> & "json" {"a":[1,2]} \u0041`,
		"",
		`"!#$%&'()*+,-./:;<=>?@[\]^_{|}~`, // no words at all
		strings.Repeat("long", 200),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		bodies = append(bodies, string(b))
		var sb strings.Builder
		for range rng.IntN(20) {
			sb.WriteRune(rune(rng.IntN(0x30000)))
		}
		bodies = append(bodies, sb.String())
	}
	var docs docBatch
	var want [][2]any
	for i, body := range bodies {
		e := logEntry{id: int64(i + 1), conv: int64(1000 + i%7), typ: parley.TextMessage, body: body, live: true}
		if i%5 == 4 {
			e.typ = parley.ReactionEntry // not indexed
		}
		docs.add(e)
		words := string(textsearch.AppendScoped(nil, parley.ID(e.conv), body))
		if e.typ.Sent() && words != "" {
			want = append(want, [2]any{float64(e.id), words})
		}
	}
	if docs.n != len(want) {
		t.Fatalf("%d entries in the batch, want %d", docs.n, len(want))
	}
	array := append(docs.buf, ']')
	if !utf8.Valid(array) {
		t.Fatal("the batch is not valid UTF-8")
	}
	var got [][2]any
	if err := json.Unmarshal(array, &got); err != nil {
		t.Fatalf("the batch is not JSON: %v\n%.300s", err, array)
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries decoded, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entry %d: got %q, want %q", i, got[i], want[i])
		}
	}

	// A batch reset after use starts a new array.
	docs.reset()
	docs.add(logEntry{id: 9, conv: 3, typ: parley.TextMessage, body: "again", live: true})
	if string(docs.buf) != `[[9,"3_again"]` || docs.n != 1 {
		t.Fatalf("after reset: %s (%d)", docs.buf, docs.n)
	}
}
