package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rtgate/rtgate/web"
)

// WebOptions configures the demo page and the SDP proxy.
type WebOptions struct {
	// DemoPage serves the demo client at "/" (DEMO_PAGE).
	DemoPage bool
	// RealtimeURL is OPENAI_BASE_URL: the page posts its offer to
	// RealtimeURL + "/realtime/calls" in ephemeral-token mode.
	RealtimeURL string
	// RealtimeOrigin is RealtimeURL's origin; the page's CSP allows
	// connect-src to it and to 'self', nothing else.
	RealtimeOrigin string
	// Files holds the browser files (see web.FS); nil means the embedded
	// web.FS().
	Files fs.FS
	// Upstreams are the upstream APIs of the SDP proxy, one per call kind
	// (POST /api/realtime-call for Realtime); a nil one is not served.
	Upstreams CallUpstreams
	// Calls tracks the proxied calls (owner, deadline, upstream id) for
	// every instance sharing its store; without it the SDP proxy is not
	// served. Build it with CallUpstreams.Hangup and CallEnded as hooks.
	Calls CallRegistry
	// Control, when set, takes every call the SDP proxy creates under
	// sideband control before its answer is sent (a *calls.Controller
	// built with CallUpstreams.Dialers, ServerSessions and CallUsage).
	Control CallControl
	// MaxSDPBytes bounds an SDP offer (MAX_SDP_BYTES); 0 means DefaultMaxSDPBytes.
	MaxSDPBytes int64
	// SessionMax is how long a proxied call may run before rtgate hangs it
	// up (USER_SESSION_MAX_SECONDS); 0, or more than DefaultSessionMax (the
	// upstream's own cap), means DefaultSessionMax.
	SessionMax time.Duration
}

// Browser files besides the page, each served at "/<name>" with its type.
// The client module and its declarations are served whatever DEMO_PAGE
// says: they are static code that holds no configuration, for apps that
// import the module from rtgate rather than copy it.
var (
	clientFiles = []asset{
		{"rtgate-client.js", "text/javascript; charset=utf-8"},
		{"rtgate-client.d.ts", "text/plain; charset=utf-8"},
	}
	demoFiles = []asset{
		{"app.js", "text/javascript; charset=utf-8"},
		{"app.css", "text/css; charset=utf-8"},
		{"favicon.svg", "image/svg+xml"},
	}
)

// asset is a browser file and its Content-Type (fixed here rather than
// taken from the system's MIME table, which differs between machines).
type asset struct{ name, ctype string }

// DemoPageCSP is the Content-Security-Policy of the demo page: its own
// script, style and icon, and fetches to itself and, for ephemeral-token
// mode, to the realtime origin. Everything else is refused.
func DemoPageCSP(realtimeOrigin string) string {
	connect := "'self'"
	if realtimeOrigin != "" {
		connect += " " + realtimeOrigin
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self'",
		"media-src 'self'",
		"connect-src " + connect,
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// webRoutes registers the client module and, when enabled, the demo page.
// The page is rendered once, at start-up; a broken template is logged and
// the page left out. It offers the GPT-Live mode when POST /api/live-session
// is already registered on mux.
func (g *Gateway) webRoutes(mux *http.ServeMux) {
	o := g.o.Web
	files := o.Files
	if files == nil {
		files = web.FS()
	}
	g.serveFiles(mux, files, clientFiles)
	if !o.DemoPage {
		return
	}
	live := serves(mux, http.MethodPost, "/api/live-session")
	page, err := renderPage(files, web.Page{RealtimeURL: o.RealtimeURL, Model: g.o.Session.Model, Live: live})
	if err != nil {
		g.log.Error("demo page disabled: template failed", "error", err.Error())
		return
	}
	csp := DemoPageCSP(o.RealtimeOrigin)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(page)
	})
	g.serveFiles(mux, files, demoFiles)
}

// serves reports whether mux already routes method and path to a handler
// registered for that method.
func serves(mux *http.ServeMux, method, path string) bool {
	_, pattern := mux.Handler(&http.Request{Method: method, URL: &url.URL{Path: path}, Host: "rtgate"})
	return strings.HasPrefix(pattern, method+" ")
}

// serveFiles serves each asset at "/<name>" with its type, an ETag (a
// digest of the content) and Cache-Control: no-cache: the paths are stable,
// so browsers revalidate and get a 304 until rtgate ships new code.
func (g *Gateway) serveFiles(mux *http.ServeMux, files fs.FS, assets []asset) {
	for _, a := range assets {
		b, err := fs.ReadFile(files, a.name)
		if err != nil {
			g.log.Error("browser file missing", "file", a.name, "error", err.Error())
			continue
		}
		sum := sha256.Sum256(b)
		etag := `"` + hex.EncodeToString(sum[:12]) + `"`
		mux.HandleFunc("GET /"+a.name, func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", a.ctype)
			h.Set("Cache-Control", "no-cache")
			h.Set("ETag", etag)
			http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(b))
		})
	}
}

func renderPage(files fs.FS, p web.Page) ([]byte, error) {
	t, err := template.ParseFS(files, "index.html")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
