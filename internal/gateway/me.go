package gateway

import (
	"errors"
	"net/http"

	"github.com/rtgate/rtgate/internal/httpx"
)

// userRoutes registers the user data-rights endpoints:
//
//	GET    /api/me/data          everything rtgate holds about the caller
//	DELETE /api/me/data          erase it (for non-browser clients)
//	POST   /api/me/data/delete   the same, for browsers
//
// The CORS preflight allows GET, POST and OPTIONS only (the guide's list),
// so a browser cannot send DELETE cross-origin; POST /api/me/data/delete is
// its way to erase. All three pass the per-IP limit and the same
// authentication as the mint endpoint; with AUTH_MODE=none there is no user
// and nothing kept, so they answer 404.
func (g *Gateway) userRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/me/data", g.handle(g.exportData))
	mux.Handle("DELETE /api/me/data", g.handle(g.eraseData))
	mux.Handle("/api/me/data", g.methodNotAllowed("GET, DELETE"))
	mux.Handle("POST /api/me/data/delete", g.handle(g.eraseData))
	mux.Handle("/api/me/data/delete", g.methodNotAllowed("POST"))
}

var errNoUserData = errors.New("no user data in this auth mode")

// dataUser authenticates the caller of a data-rights endpoint.
func (g *Gateway) dataUser(w http.ResponseWriter, r *http.Request) (Identity, UserData, error) {
	if err := g.limitIP(w, r); err != nil {
		return Identity{}, nil, err
	}
	ud, ok := g.o.Users.(UserData)
	if !ok {
		return Identity{}, nil, notFound(errNoUserData)
	}
	id, err := g.o.Auth.Authenticate(r)
	if err != nil {
		return Identity{}, nil, err
	}
	if id.Anonymous() {
		return Identity{}, nil, notFound(errNoUserData)
	}
	return id, ud, nil
}

func (g *Gateway) exportData(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		return methodNotAllowedError("GET, DELETE")
	}
	id, ud, err := g.dataUser(w, r)
	if err != nil {
		return err
	}
	v, err := ud.Export(r.Context(), id)
	if err != nil {
		return unavailable(err)
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (g *Gateway) eraseData(w http.ResponseWriter, r *http.Request) error {
	id, ud, err := g.dataUser(w, r)
	if err != nil {
		return err
	}
	v, err := ud.Erase(r.Context(), id)
	if err != nil {
		return unavailable(err)
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}
