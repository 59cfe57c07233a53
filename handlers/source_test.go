package handlers

import (
	"net/http/httptest"
	"testing"
)

func TestSourceOf(t *testing.T) {
	tests := []struct {
		remote, xff, want string
	}{
		{"203.0.113.7:5555", "", "203.0.113.7"},
		{"203.0.113.7:5555", "198.51.100.1", "203.0.113.7"}, // a direct client cannot claim another address
		{"127.0.0.1:40000", "", "127.0.0.1"},
		{"127.0.0.1:40000", "198.51.100.1", "198.51.100.1"},
		{"127.0.0.1:40000", "10.9.9.9, 198.51.100.1:1234", "198.51.100.1"}, // the client's own entry is ignored
		{"127.0.0.1:40000", "198.51.100.1, 127.0.0.1", "198.51.100.1"},
		{"[::1]:40000", "garbage, 2001:db8::1", "2001:db8::1"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := sourceOf(r); got != tc.want {
			t.Errorf("sourceOf(%s, XFF %q) = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}
