package gateway_test

import (
	"io/fs"
	"net/http"
	"strings"
	"testing"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/web"
)

// TestClientModuleServed: the browser client module and its declarations
// are served at stable paths whether or not the demo page is, with their
// types, the API's security headers, and revalidation by ETag; an allowed
// origin may import the module cross-origin, a foreign one may not.
func TestClientModuleServed(t *testing.T) {
	for _, env := range []map[string]string{nil, {"DEMO_PAGE": "false"}} {
		in := apptest.Start(t, env)
		for _, f := range []struct{ path, ctype string }{
			{"/rtgate-client.js", "text/javascript; charset=utf-8"},
			{"/rtgate-client.d.ts", "text/plain; charset=utf-8"},
		} {
			want, err := fs.ReadFile(web.FS(), strings.TrimPrefix(f.path, "/"))
			if err != nil {
				t.Fatal(err)
			}
			r := in.Do(t, "GET", f.path, "")
			etag := r.Header.Get("ETag")
			if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != f.ctype || r.Body != string(want) ||
				r.Header.Get("Cache-Control") != "no-cache" || !strings.HasPrefix(etag, `"`) {
				t.Fatalf("DEMO_PAGE=%q GET %s: status %d, type %q, cache %q, etag %q, body matches %v",
					env["DEMO_PAGE"], f.path, r.StatusCode, r.Header.Get("Content-Type"), r.Header.Get("Cache-Control"), etag, r.Body == string(want))
			}
			assertSecurityHeaders(t, r)
			if again := in.Do(t, "GET", f.path, "", "If-None-Match: "+etag); again.StatusCode != http.StatusNotModified || again.Body != "" {
				t.Errorf("GET %s with its ETag: status %d, %d bytes", f.path, again.StatusCode, len(again.Body))
			}
			if head := in.Do(t, "HEAD", f.path, ""); head.StatusCode != http.StatusOK || head.Body != "" {
				t.Errorf("HEAD %s: status %d", f.path, head.StatusCode)
			}
		}
		// A module script from another origin is a CORS request.
		allowed := in.Do(t, "GET", "/rtgate-client.js", "", "Origin: https://app.example.com")
		if allowed.StatusCode != http.StatusOK || allowed.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Errorf("import from an allowed origin: status %d, ACAO %q", allowed.StatusCode, allowed.Header.Get("Access-Control-Allow-Origin"))
		}
		if foreign := in.Do(t, "GET", "/rtgate-client.js", "", "Origin: https://evil.example"); foreign.StatusCode != http.StatusForbidden {
			t.Errorf("import from a foreign origin: status %d, want 403", foreign.StatusCode)
		}
	}
}
