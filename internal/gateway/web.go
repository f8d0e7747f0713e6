package gateway

import "net/http"

// webRoutes registers the demo page when enabled.
func (g *Gateway) webRoutes(mux *http.ServeMux) { _ = mux }
