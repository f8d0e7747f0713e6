// Package web holds rtgate's browser code, plain HTML, CSS and JavaScript
// with no build step and no inline script or style, embedded in the binary:
// the client module (rtgate-client.js with its TypeScript declarations),
// which the gateway always serves, and the demo page built on it, served at
// "/" when DEMO_PAGE is on.
package web

import (
	"embed"
	"io/fs"
)

//go:embed index.html app.js app.css favicon.svg rtgate-client.js rtgate-client.d.ts
var files embed.FS

// FS returns the browser files, all at the root: index.html (an
// html/template that takes a Page), app.js, app.css, favicon.svg, and the
// client module rtgate-client.js with rtgate-client.d.ts.
func FS() fs.FS { return files }

// Page is the data index.html is rendered with.
type Page struct {
	// RealtimeURL is OPENAI_BASE_URL, where the page posts its SDP offer in
	// ephemeral-token mode (…/realtime/calls).
	RealtimeURL string
	// Model is the server's default model, shown for information.
	Model string
	// Live offers the GPT-Live mode (POST /api/live-session is served).
	Live bool
}
