package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
