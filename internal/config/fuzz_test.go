package config

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzNormalizeOrigin: anything accepted is a bare origin that normalises to itself.
func FuzzNormalizeOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "http://[::1]:3000", "null", "*", "https://a.b:443", "javascript:alert(1)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := NormalizeOrigin(s)
		if err != nil {
			return
		}
		again, err := NormalizeOrigin(o)
		if err != nil || again != o {
			t.Fatalf("%q -> %q -> %q, %v", s, o, again, err)
		}
		u, err := url.Parse(o)
		if err != nil || u.Path != "" || u.RawQuery != "" || u.User != nil || strings.ContainsAny(o, "* \t") {
			t.Fatalf("%q normalised to non-origin %q", s, o)
		}
	})
}
