package parley_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
)

func TestErrorTextIsForPeople(t *testing.T) {
	e := parley.WrapError(parley.EUNAVAILABLE, "database unavailable", errors.New("dial tcp: refused"))
	if got := e.Error(); got != "database unavailable: dial tcp: refused" {
		t.Fatalf("Error() = %q", got)
	}
	if got := parley.ErrorMessage(e); got != "database unavailable" {
		t.Fatalf("ErrorMessage = %q", got)
	}
	if got := parley.Errorf(parley.EINVALID, "bad %s", "thing").Error(); got != "bad thing" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestDecodeJSON(t *testing.T) {
	type req struct {
		Handle string    `json:"handle"`
		ID     parley.ID `json:"id"`
		N      int       `json:"n"`
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"ErrInvalidUTF8", "{\"handle\":\"a\xffb\"}", "not valid UTF-8"},
		{"ErrWrongType", `{"n":"five"}`, `field "n" has the wrong type`},
		{"ErrSyntax", `{"handle":}`, "malformed near byte"},
		{"ErrTruncated", `{"handle":"x"`, "ends too early"},
		{"ErrBadID", `{"id":"-3"}`, "invalid id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v req
			err := parley.DecodeJSON([]byte(tc.body), &v)
			if parley.ErrorCode(err) != parley.EINVALID || !strings.Contains(parley.ErrorMessage(err), tc.want) {
				t.Fatalf("DecodeJSON(%q) = %v, want invalid with %q", tc.body, err, tc.want)
			}
			if msg := parley.ErrorMessage(err); strings.Contains(msg, "Go ") || strings.Contains(msg, "struct") || strings.Contains(msg, "parley.") {
				t.Fatalf("message shows internals: %q", msg)
			}
		})
	}
	var v req
	if err := parley.DecodeJSON([]byte(`{"handle":"héllo","id":"7"}`), &v); err != nil || v.Handle != "héllo" || v.ID != 7 {
		t.Fatalf("DecodeJSON = %+v, %v", v, err)
	}
}

func TestCleanFilename(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"invoice\u202Efdp.exe", "invoicefdp.exe"}, // right-to-left override
		{"a\u200Bb\u2066c\u2069.txt", "abc.txt"},   // zero-width space, isolates
		{"\ufeffnote.txt", "note.txt"},             // byte order mark
		{"../../etc/passwd", "passwd"},
		{"tab\there.txt", "tabhere.txt"},
		{"résumé.doc", "résumé.doc"},
	} {
		if got := parley.CleanFilename(tc.in); got != tc.want {
			t.Errorf("CleanFilename(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
