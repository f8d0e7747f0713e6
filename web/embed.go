// Package web holds the demo client: plain HTML, CSS and JavaScript with no
// build step and no inline script or style, embedded in the binary. The
// gateway serves it at "/" when DEMO_PAGE is on.
package web

import (
	"embed"
	"io/fs"
)

//go:embed index.html app.js app.css favicon.svg
var files embed.FS

// FS returns the demo client's files: index.html (an html/template that takes
// a Page), app.js, app.css and favicon.svg, all at the root.
func FS() fs.FS { return files }

// Page is the data index.html is rendered with.
type Page struct {
	// RealtimeURL is OPENAI_BASE_URL, where the page posts its SDP offer in
	// ephemeral-token mode (…/realtime/calls).
	RealtimeURL string
	// Model is the server's default model, shown for information.
	Model string
}
