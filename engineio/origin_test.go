package engineio

import (
	"net/http/httptest"
	"testing"
)

func TestOriginAllowed(t *testing.T) {
	listed := func(o string) bool { return o == "https://app.example" }
	for _, tc := range []struct {
		name   string
		allow  func(string) bool
		host   string
		origin string
		want   bool
	}{
		{"NoOrigin", nil, "chat.example:8080", "", true},
		{"OwnHost", nil, "chat.example:8080", "http://chat.example:8080", true},
		{"OwnHostWithList", listed, "chat.example:8080", "http://chat.example:8080", true},
		{"Listed", listed, "chat.example:8080", "https://app.example", true},
		{"ErrOtherHost", nil, "chat.example:8080", "http://evil.example", false},
		{"ErrOtherPort", listed, "chat.example:8080", "http://chat.example:9090", false},
		{"ErrNotListed", listed, "chat.example:8080", "https://evil.example", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{AllowOrigin: tc.allow}
			r := httptest.NewRequest("GET", "http://"+tc.host+"/socket.io/", nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if _, ok := c.originAllowed(r); ok != tc.want {
				t.Errorf("origin %q on %s allowed = %v, want %v", tc.origin, tc.host, ok, tc.want)
			}
		})
	}
}
