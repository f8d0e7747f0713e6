package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/rtgate/rtgate/internal/httpx"
)

// TestContentTypeRule: JSON and SDP bodies obey one rule. Media types and
// charset names are case-insensitive (RFC 9110 8.3.1, 8.3.2); the only
// charset is UTF-8; other parameters are ignored.
func TestContentTypeRule(t *testing.T) {
	tests := []struct {
		ctype string
		json  bool // accepted as application/json
		sdp   bool // accepted as application/sdp
	}{
		{"application/json", true, false},
		{"application/json; charset=utf-8", true, false},
		{"application/json; charset=UTF-8", true, false},
		{"application/json; charset=Utf-8", true, false},
		{`application/json; charset="utf-8"`, true, false},
		{"Application/JSON", true, false},
		{"application/json;CHARSET=utf-8", true, false},
		{"application/json; foo=bar", true, false},
		{"application/json; charset=latin1", false, false},
		{"application/json; charset=utf8", false, false},
		{"application/json; charset", false, false},
		{"application/jsonx", false, false},
		{"application/json-patch+json", false, false},
		{"text/json", false, false},
		{"text/plain", false, false},
		{"", false, false},
		{"application/sdp", false, true},
		{"APPLICATION/SDP; charset=UTF-8", false, true},
		{"application/sdp; charset=us-ascii", false, false},
		{"application/sdp, application/json", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.ctype, func(t *testing.T) {
			if ok := checkContentType(tt.ctype, mediaJSON) == nil; ok != tt.json {
				t.Errorf("as JSON: accepted %v, want %v", ok, tt.json)
			}
			if ok := checkContentType(tt.ctype, mediaSDP) == nil; ok != tt.sdp {
				t.Errorf("as SDP: accepted %v, want %v", ok, tt.sdp)
			}
		})
	}
}

// TestReadBodyRefusals: the refusals of the one body reader, for both
// media types.
func TestReadBodyRefusals(t *testing.T) {
	tests := []struct {
		name, media, ctype, body string
		limit                    int64
		chunked                  bool
		status                   int
		code                     string
	}{
		{"JSON within the limit", mediaJSON, "application/json", `{"a":1}`, 16, false, 0, ""},
		{"SDP within the limit", mediaSDP, "application/sdp", "v=0\r\n", 16, false, 0, ""},
		{"wrong type", mediaJSON, "text/plain", `{}`, 16, false, 415, httpx.CodeUnsupportedMediaType},
		{"wrong type for SDP", mediaSDP, "application/json", `{}`, 16, false, 415, httpx.CodeUnsupportedMediaType},
		{"declared too long", mediaJSON, "application/json", strings.Repeat("x", 17), 16, false, 413, httpx.CodePayloadTooLarge},
		{"chunked and too long", mediaSDP, "application/sdp", strings.Repeat("x", 17), 16, true, 413, httpx.CodePayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", tt.ctype)
			if tt.chunked {
				r.ContentLength = -1
			}
			b, err := readBody(r, tt.media, tt.limit)
			if tt.status == 0 {
				if err != nil || string(b) != tt.body {
					t.Fatalf("%q, %v", b, err)
				}
				return
			}
			e, ok := err.(*httpx.Error)
			if !ok || e.Status != tt.status || e.Code != tt.code {
				t.Fatalf("%v, want %d %s", err, tt.status, tt.code)
			}
		})
	}
}

// TestReadBodyLimitEdge: a body of exactly limit bytes is read whole, one
// byte more is a 413, with or without a declared length; a failing body
// is a 400.
func TestReadBodyLimitEdge(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		for _, n := range []int{0, 1, 511, 512, 513, 1024, 1025} {
			for _, limit := range []int64{int64(n), int64(n) - 1} {
				if limit < 0 {
					continue
				}
				body := strings.Repeat("x", n)
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
				r.Header.Set("Content-Type", mediaJSON)
				if chunked {
					r.ContentLength = -1
				}
				b, err := readBodyTo(make([]byte, 0, 3), r, mediaJSON, limit)
				if int64(n) <= limit {
					if err != nil || string(b) != body {
						t.Fatalf("chunked %v, %d bytes, limit %d: %d bytes, %v", chunked, n, limit, len(b), err)
					}
					continue
				}
				if e, ok := err.(*httpx.Error); !ok || e.Status != 413 {
					t.Fatalf("chunked %v, %d bytes, limit %d: %v, want 413", chunked, n, limit, err)
				}
			}
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/", iotest.ErrReader(errors.New("reset")))
	r.Header.Set("Content-Type", mediaJSON)
	r.ContentLength = -1
	if _, err := readBody(r, mediaJSON, 16); err == nil || err.(*httpx.Error).Status != 400 {
		t.Fatalf("failing body: %v", err)
	}
}

// mintBodySeeds are bodies flatJSON reads and bodies it must leave to
// encoding/json.
var mintBodySeeds = []string{
	`{"voice":"marin"}`, `{"model":"gpt-realtime","voice":"marin"}`, ` { "voice" : "marin" , "model":"m" } `, "{}", "\t{ }\r\n",
	`{"voice":"marin","voice":"cedar"}`, `{"Voice":"marin"}`, `{"voice":null}`, `{"voice":1}`, `{"voice":"ma\u0072in"}`,
	`{"voice":"marin"}x`, `{"voice":"marin"}{}`, `{"voice":"marin",}`, `{"voice":"zé"}`, `{"other":"x"}`, `[]`, ``, `{`,
	`{"voice":"marin"`, `{"voice"}`, `{,}`, `{"voice":"marin" "model":"m"}`, "\xef\xbb\xbf{}", `{"model":"a\tb"}`,
}

// TestFlatJSON: what flatJSON reads, it reads as encoding/json does; what
// it refuses is left to strictJSON.
func TestFlatJSON(t *testing.T) {
	read := map[string]bool{
		`{"voice":"marin"}`: true, `{"model":"gpt-realtime","voice":"marin"}`: true,
		` { "voice" : "marin" , "model":"m" } `: true, "{}": true, "\t{ }\r\n": true,
	}
	for _, body := range mintBodySeeds {
		var vals [2][]byte
		var set [2]bool
		if ok := flatJSON([]byte(body), mintFields[:], vals[:], set[:]); ok != read[body] {
			t.Errorf("%q: read %v, want %v", body, ok, read[body])
		}
		checkFlatJSON(t, []byte(body))
	}
}

func FuzzFlatJSON(f *testing.F) {
	for _, s := range mintBodySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkFlatJSON)
}

// checkFlatJSON: when flatJSON reads body, strictJSON accepts it with the
// same values.
func checkFlatJSON(t *testing.T, body []byte) {
	var vals [2][]byte
	var set [2]bool
	if !flatJSON(body, mintFields[:], vals[:], set[:]) {
		return
	}
	var b mintBody
	if err := strictJSON(body, &b); err != nil {
		t.Fatalf("%q: flatJSON read it, strictJSON refused it: %v", body, err)
	}
	for i, p := range []*string{b.Model, b.Voice} {
		if (p != nil) != set[i] || p != nil && *p != string(vals[i]) {
			t.Fatalf("%q: %s: flatJSON %v %q, encoding/json %v", body, mintFields[i], set[i], vals[i], p)
		}
	}
}
