// Package auth establishes who is asking for a token (pipeline stage 9):
// a JWT verified with a shared HS256 secret or with keys from a JWKS URL,
// or a call to an existing session service ("forward auth", like nginx's
// auth_request). A Guard wraps either with the parts every mode shares: a
// generic 401, failure metrics and audit lines, and a per-client-IP limit on
// failed attempts (429).
//
// The package knows nothing of the gateway: a Verifier returns a user id or
// an error, and the app turns that into the gateway's Identity.
package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Verifier establishes the user id behind a request's credentials. It
// returns a *Failure when the credentials are missing or not acceptable
// (the client's fault) and an *Unavailable when the means to check them
// are not (the key set or the session service).
type Verifier interface {
	Verify(r *http.Request) (userID string, err error)
}

// Failure reasons: the values of the reason label, a fixed set.
const (
	ReasonMissing         = "missing"           // no credentials at all
	ReasonMalformed       = "malformed"         // not a parseable token
	ReasonSignature       = "signature"         // signature does not verify
	ReasonAlgorithm       = "algorithm"         // algorithm not on the allowlist, or not the key's
	ReasonUnknownKey      = "unknown_key"       // kid not in the key set, even after a refresh
	ReasonExpired         = "expired"           // exp in the past (beyond leeway) or missing
	ReasonNotYetValid     = "not_yet_valid"     // nbf or iat in the future (beyond leeway)
	ReasonIssuer          = "issuer"            // iss is not AUTH_JWT_ISSUER
	ReasonAudience        = "audience"          // aud does not contain AUTH_JWT_AUDIENCE
	ReasonNoUser          = "no_user"           // no usable user id (claim or header)
	ReasonDenied          = "denied"            // the forward-auth service said no
	ReasonCrossSiteCookie = "cross_site_cookie" // cookie credentials on a cross-site request
	ReasonInvalid         = "invalid"           // any other validation failure
)

// Reasons lists every failure reason, for metrics.
func Reasons() []string {
	return []string{ReasonMissing, ReasonMalformed, ReasonSignature, ReasonAlgorithm, ReasonUnknownKey, ReasonExpired,
		ReasonNotYetValid, ReasonIssuer, ReasonAudience, ReasonNoUser, ReasonDenied, ReasonCrossSiteCookie, ReasonInvalid}
}

// Failure is a refused credential: missing, or not acceptable. Reason is
// one of the Reason constants; Err, when set, is the detail for the server
// log (never for the client).
type Failure struct {
	Reason string
	Err    error
	// Challenge is what the client should be told about how to
	// authenticate; a Guard sets it in modes whose clients send bearer
	// tokens (jwt), nil otherwise (forward auth, where the session service
	// owns the login).
	Challenge *Challenge
}

// Challenge is how a client should authenticate, as RFC 6750 puts it in a
// WWW-Authenticate header: Scheme "Bearer", the Realm, and Error
// "invalid_token" when credentials were sent and refused ("" when there
// were none).
type Challenge struct {
	Scheme string
	Realm  string
	Error  string
}

// FailureLimited means the client failed authentication too often: its
// credentials were not even checked. RetryAfter is when it may try again.
type FailureLimited struct {
	RetryAfter time.Duration
}

func (e *FailureLimited) Error() string { return "auth failure limit" }

func (f *Failure) Error() string {
	if f.Err != nil {
		return "auth: " + f.Reason + ": " + f.Err.Error()
	}
	return "auth: " + f.Reason
}

func (f *Failure) Unwrap() error { return f.Err }

func fail(reason string, err error) error { return &Failure{Reason: reason, Err: err} }

// Unavailable means credentials could not be checked: the key set was
// never loaded, or the forward-auth service failed or timed out. The
// credentials may well be good: the client must not be told they are not.
type Unavailable struct{ Err error }

func (u *Unavailable) Error() string { return "auth unavailable: " + u.Err.Error() }

func (u *Unavailable) Unwrap() error { return u.Err }

func unavailable(format string, args ...any) error {
	return &Unavailable{Err: fmt.Errorf(format, args...)}
}

// MaxUserIDBytes bounds a user id: longer ids are refused, not truncated.
const MaxUserIDBytes = 256

// ValidUserID reports whether s can be a user id: 1..MaxUserIDBytes bytes
// of valid UTF-8 with no control characters.
func ValidUserID(s string) bool {
	if s == "" || len(s) > MaxUserIDBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// Bearer returns the token of an "Authorization: Bearer <token>" header
// (scheme case-insensitive), "" when there is none, and an error when the
// header is present but not a bearer token.
func Bearer(r *http.Request) (string, error) {
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return "", nil
	}
	if len(h) > 1 {
		return "", errors.New("several Authorization headers")
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errors.New("authorization scheme is not Bearer")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", errors.New("empty bearer token")
	}
	return tok, nil
}

// crossSite reports whether a request that carries cookie credentials was
// made cross-site without CORS: a browser sends Origin on every CORS and
// every cross-origin POST (and the origin gate has already refused foreign
// ones), so a request without Origin that Sec-Fetch-Site marks cross-site
// or same-site is a navigation or an <img>/<script> load triggered by
// another page: accepting its cookies would let any site burn a user's
// quota. Non-browser clients send neither header and pass.
func crossSite(r *http.Request) bool {
	if r.Header.Get("Origin") != "" {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return false
	}
	return true
}
