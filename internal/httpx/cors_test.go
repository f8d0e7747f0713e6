package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCORSSpec is request headers in, response headers out (rs/cors style).
func TestCORSSpec(t *testing.T) {
	c := NewCORS([]string{"https://app.example.com", "http://localhost:3000"}, nil)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	h := RequestIDs(c.Middleware(next))
	cases := []struct {
		name       string
		method     string
		reqHeaders map[string]string
		status     int
		resHeaders map[string]string // "" means must be absent
	}{
		{"no origin passes untouched", "GET", nil, 299, map[string]string{"Access-Control-Allow-Origin": "", "Vary": "Origin"}},
		{"allowed origin", "POST", map[string]string{"Origin": "https://app.example.com"}, 299, map[string]string{
			"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Allow-Credentials": "true", "Vary": "Origin",
			"Access-Control-Expose-Headers": corsExposeHeaders}},
		{"foreign origin refused", "GET", map[string]string{"Origin": "https://evil.example"}, 403, map[string]string{"Access-Control-Allow-Origin": ""}},
		{"suffix trick refused", "GET", map[string]string{"Origin": "https://app.example.com.evil.example"}, 403, nil},
		{"prefix trick refused", "GET", map[string]string{"Origin": "https://xapp.example.com"}, 403, nil},
		{"upper case refused", "GET", map[string]string{"Origin": "https://App.example.com"}, 403, nil},
		{"null refused", "GET", map[string]string{"Origin": "null"}, 403, nil},
		{"trailing slash refused", "GET", map[string]string{"Origin": "https://app.example.com/"}, 403, nil},
		{"trailing space refused", "GET", map[string]string{"Origin": "https://app.example.com "}, 403, nil},
		{"preflight ok", "OPTIONS", map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Content-Type,Authorization,X-Request-ID"}, 204, map[string]string{
			"Access-Control-Allow-Origin": "http://localhost:3000", "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
			"Access-Control-Max-Age": "86400", "Access-Control-Allow-Headers": corsAllowHeaders, "Access-Control-Allow-Credentials": "true"}},
		{"preflight GET ok", "OPTIONS", map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"}, 204, nil},
		{"preflight DELETE refused", "OPTIONS", map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "DELETE"}, 403, map[string]string{"Access-Control-Allow-Methods": ""}},
		{"preflight lower-case post refused", "OPTIONS", map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "post"}, 403, nil},
		{"preflight unknown header refused", "OPTIONS", map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "X-Api-Key"}, 403, nil},
		{"preflight from a foreign origin refused", "OPTIONS", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}, 403, nil},
		{"plain OPTIONS goes to routing", "OPTIONS", map[string]string{"Origin": "http://localhost:3000"}, 299, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/api/realtime-session", nil)
			for k, v := range tc.reqHeaders {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			for k, want := range tc.resHeaders {
				got := strings.Join(w.Header().Values(k), ", ")
				if want == "" && got != "" {
					t.Errorf("%s = %q, want absent", k, got)
				}
				if want != "" && !strings.Contains(got, want) {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func FuzzCORSAllowed(f *testing.F) {
	allowed := []string{"https://app.example.com", "http://localhost:3000"}
	c := NewCORS(allowed, nil)
	for _, s := range []string{"https://app.example.com", "null", "", "https://app.example.com.evil", "HTTPS://APP.EXAMPLE.COM"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		got := c.Allowed(origin)
		want := origin == allowed[0] || origin == allowed[1]
		if got != want {
			t.Fatalf("Allowed(%q) = %v", origin, got)
		}
	})
}

func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"abc", "", "a b", strings.Repeat("x", 200), "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set(RequestIDHeader, id)
		var seen string
		RequestIDs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = RequestID(r.Context()) })).ServeHTTP(httptest.NewRecorder(), req)
		if !ValidRequestID(seen) {
			t.Fatalf("invalid id %q kept", seen)
		}
		if ValidRequestID(id) && seen != id {
			t.Fatalf("valid id %q replaced by %q", id, seen)
		}
	})
}

func TestCrossSiteFetch(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		refused bool
	}{
		{"no metadata: not a browser, or an old one", nil, false},
		{"same-origin fetch", map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}, false},
		{"typed-in navigation", map[string]string{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, false},
		{"same-origin navigation", map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "document"}, false},
		{"CORS from another site carries an Origin", map[string]string{"Origin": "https://app.example.com", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}, false},
		{"cross-site <img>", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}, true},
		{"cross-site without mode or destination", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
		{"same-site sibling subdomain", map[string]string{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Dest": "empty"}, true},
		{"same-origin <script>", map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "script"}, true},
		{"a destination alone", map[string]string{"Sec-Fetch-Dest": "iframe"}, true},
		{"an unknown site value", map[string]string{"Sec-Fetch-Site": "elsewhere"}, true},
		{"case matters: browsers send lower case", map[string]string{"Sec-Fetch-Site": "Same-Origin"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/realtime-session", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if err := CrossSiteFetch(r); (err != nil) != tt.refused {
				t.Fatalf("CrossSiteFetch = %v, want refused %v", err, tt.refused)
			}
		})
	}
}
