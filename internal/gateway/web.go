package gateway

import (
	"bytes"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
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
	// Files holds index.html, app.js, app.css and favicon.svg; nil means the
	// embedded web.FS().
	Files fs.FS
	// Upstreams are the upstream APIs of the SDP proxy, one per call kind
	// (POST /api/realtime-call for Realtime); a nil one is not served.
	Upstreams CallUpstreams
	// Calls tracks the proxied calls (owner, deadline, upstream id) for
	// every instance sharing its store; without it the SDP proxy is not
	// served. Build it with CallUpstreams.Hangup and CallEnded as hooks.
	Calls CallRegistry
	// MaxSDPBytes bounds an SDP offer (MAX_SDP_BYTES); 0 means DefaultMaxSDPBytes.
	MaxSDPBytes int64
	// SessionMax is how long a proxied call may run before rtgate hangs it
	// up (USER_SESSION_MAX_SECONDS); 0, or more than DefaultSessionMax (the
	// upstream's own cap), means DefaultSessionMax.
	SessionMax time.Duration
}

// demoAssetList names the files served besides the page, at "/<name>".
const demoAssetList = "app.js app.css favicon.svg"

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

// webRoutes registers the demo page when enabled. The page is rendered once,
// at start-up; a broken template is logged and the page left out.
func (g *Gateway) webRoutes(mux *http.ServeMux) {
	o := g.o.Web
	if !o.DemoPage {
		return
	}
	files := o.Files
	if files == nil {
		files = web.FS()
	}
	page, err := renderPage(files, web.Page{RealtimeURL: o.RealtimeURL, Model: g.o.Session.Model})
	if err != nil {
		g.log.Error("demo page disabled: template failed", "error", err.Error())
		return
	}
	csp := DemoPageCSP(o.RealtimeOrigin)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		serveBytes(w, "text/html; charset=utf-8", page)
	})
	for _, name := range strings.Fields(demoAssetList) {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			g.log.Error("demo page asset missing", "file", name, "error", err.Error())
			continue
		}
		ctype := mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		mux.HandleFunc("GET /"+name, func(w http.ResponseWriter, r *http.Request) { serveBytes(w, ctype, b) })
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

func serveBytes(w http.ResponseWriter, ctype string, b []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
