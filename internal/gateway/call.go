package gateway

import "net/http"

// callRoutes registers the SDP proxy endpoints (POST /api/realtime-call).
func (g *Gateway) callRoutes(mux *http.ServeMux) { _ = mux }
