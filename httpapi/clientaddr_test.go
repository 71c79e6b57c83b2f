package httpapi

import (
	"net/http/httptest"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"Direct", "198.51.100.7:5555", nil, "198.51.100.7"},
		{"UntrustedPeerIgnoresHeader", "198.51.100.7:5555", []string{"1.2.3.4"}, "198.51.100.7"},
		{"TrustedPeer", "127.0.0.1:5555", []string{"203.0.113.9"}, "203.0.113.9"},
		{"SkipsTrustedHops", "127.0.0.1:5555", []string{"6.6.6.6, 203.0.113.9, 10.1.2.3"}, "203.0.113.9"},
		{"SeveralHeaders", "127.0.0.1:5555", []string{"6.6.6.6", "203.0.113.9"}, "203.0.113.9"},
		{"ForgedLeftmostIgnored", "10.0.0.1:80", []string{"127.0.0.1, 192.0.2.1"}, "192.0.2.1"},
		{"Garbage", "127.0.0.1:5555", []string{"not-an-address"}, "127.0.0.1"},
		{"OnlyProxies", "127.0.0.1:5555", []string{"10.9.9.9"}, "10.9.9.9"},
		{"IPv6", "[2001:db8::1]:443", nil, "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(r, trusted).String(); got != tc.want {
				t.Fatalf("clientAddr = %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Fatal("a bad prefix was accepted")
	}
}
