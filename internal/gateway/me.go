package gateway

import (
	"errors"
	"net/http"

	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/users"
)

// userRoutes registers the user data-rights endpoints:
//
//	GET    /api/me/data          everything rtgate holds about the caller
//	DELETE /api/me/data          erase it (for non-browser clients)
//	POST   /api/me/data/delete   the same, for browsers
//
// The CORS preflight allows GET, POST and OPTIONS only (the guide's list),
// so a browser cannot send DELETE cross-origin; POST /api/me/data/delete is
// its way to erase. All three need the same authentication as the mint
// endpoint; with AUTH_MODE=none there is no user and nothing kept, so they
// answer 404. Export passes the per-IP limit; erasure never does: a user's
// right to have their data deleted must not wait for a rate limit (it
// costs no upstream call and is idempotent). The auth-failure limit still
// applies to both, which only an address with failed credentials meets.
func (g *Gateway) userRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/me/data", g.handle(g.exportData))
	mux.Handle("DELETE /api/me/data", g.handle(g.eraseData))
	mux.Handle("/api/me/data", g.methodNotAllowed("GET, DELETE"))
	mux.Handle("POST /api/me/data/delete", g.handle(g.eraseData))
	mux.Handle("/api/me/data/delete", g.methodNotAllowed("POST"))
}

var errNoUserData = errors.New("no user data in this auth mode")

// dataUser authenticates the caller of a data-rights endpoint.
func (g *Gateway) dataUser(r *http.Request) (string, error) {
	if g.o.Users == nil {
		return "", notFound(errNoUserData)
	}
	user, err := g.o.Auth.Authenticate(r)
	if err != nil {
		return "", err
	}
	if user == "" {
		return "", notFound(errNoUserData)
	}
	return user, nil
}

func (g *Gateway) exportData(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		return methodNotAllowedError("GET, DELETE")
	}
	if err := g.limitIP(w, r); err != nil {
		return err
	}
	user, err := g.dataUser(r)
	if err != nil {
		return err
	}
	d, err := g.o.Users.Export(r.Context(), user)
	if err != nil {
		return err
	}
	// OpenAI's ids of the user's calls are for operators only.
	out, err := g.withBudget(r.Context(), user, d.ForUser())
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// eraseData never passes a rate limit (see userRoutes).
func (g *Gateway) eraseData(w http.ResponseWriter, r *http.Request) error {
	user, err := g.dataUser(r)
	if err != nil {
		return err
	}
	e, err := g.o.Users.Erase(r.Context(), user, users.ByUser)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, e)
	return nil
}
