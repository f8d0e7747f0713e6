package auth

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTOptions configures a JWT verifier. Exactly one of Secret and Keys is
// set.
type JWTOptions struct {
	// Secret is the shared HMAC key (AUTH_JWT_SECRET).
	Secret []byte
	// Keys is the provider's key set (AUTH_JWT_JWKS_URL).
	Keys *JWKS
	// Algorithms is the allowlist (AUTH_JWT_ALGORITHMS): HMAC algorithms
	// only with Secret, public-key algorithms only with Keys.
	Algorithms []string
	// Issuer and Audience, when set, must match iss and be in aud.
	Issuer   string
	Audience string
	// UserClaim names the claim holding the user id ("sub").
	UserClaim string
	// Cookie, when set, names a cookie read when there is no
	// Authorization header.
	Cookie string
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// JWT verifies bearer tokens (or a named cookie): no "crit" header,
// signature with an allowlisted algorithm whose key kind matches (no
// "none", no HS/RS confusion), exp required, nbf and iat not in the future, iss and aud when
// configured, and a user id in UserClaim.
type JWT struct {
	o      JWTOptions
	parser *jwt.Parser
}

var _ Verifier = (*JWT)(nil)

var hmacAlgs = []string{"HS256", "HS384", "HS512"}

// NewJWT validates o and returns a verifier.
func NewJWT(o JWTOptions) (*JWT, error) {
	if (len(o.Secret) == 0) == (o.Keys == nil) {
		return nil, errors.New("auth: exactly one of a secret and a key set is required")
	}
	if len(o.Algorithms) == 0 {
		return nil, errors.New("auth: an algorithm allowlist is required")
	}
	for _, alg := range o.Algorithms {
		isHMAC := slices.Contains(hmacAlgs, alg)
		if alg == "none" || isHMAC != (len(o.Secret) > 0) {
			return nil, fmt.Errorf("auth: algorithm %q is not allowed with this key source", alg)
		}
		if jwt.GetSigningMethod(alg) == nil {
			return nil, fmt.Errorf("auth: unknown algorithm %q", alg)
		}
	}
	if o.UserClaim == "" {
		o.UserClaim = "sub"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(o.Algorithms),
		jwt.WithLeeway(o.Leeway),
		jwt.WithTimeFunc(o.Now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	}
	if o.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(o.Issuer))
	}
	if o.Audience != "" {
		opts = append(opts, jwt.WithAudience(o.Audience))
	}
	return &JWT{o: o, parser: jwt.NewParser(opts...)}, nil
}

// Verify implements Verifier.
func (v *JWT) Verify(r *http.Request) (string, error) {
	raw, err := Bearer(r)
	if err != nil {
		return "", fail(ReasonMalformed, err)
	}
	if raw == "" && v.o.Cookie != "" {
		if c, err := r.Cookie(v.o.Cookie); err == nil && c.Value != "" {
			if crossSite(r) {
				return "", fail(ReasonCrossSiteCookie, errors.New("cookie token on a cross-site request without Origin"))
			}
			raw = c.Value
		}
	}
	if raw == "" {
		return "", fail(ReasonMissing, nil)
	}
	claims := jwt.MapClaims{}
	keyFor := func(*jwt.Token) (any, error) { return v.o.Secret, nil }
	if v.o.Keys != nil {
		keyFor = v.o.Keys.Keyfunc(r.Context())
	}
	_, err = v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		// RFC 7515 §4.1.11: a "crit" header names extensions the recipient
		// must understand or refuse the token; rtgate understands none
		// (golang-jwt ignores the parameter). An empty list is invalid too.
		if _, ok := t.Header["crit"]; ok {
			return nil, fail(ReasonMalformed, errors.New(`"crit" header: extensions not supported`))
		}
		return keyFor(t)
	})
	if err != nil {
		return "", classify(err)
	}
	user, _ := claims[v.o.UserClaim].(string)
	if !ValidUserID(user) {
		return "", fail(ReasonNoUser, fmt.Errorf("claim %q is missing or not a usable id", v.o.UserClaim))
	}
	return user, nil
}

// classify maps a golang-jwt error to a Failure reason, passing through
// the key set's own Failure and Unavailable.
func classify(err error) error {
	var u *Unavailable
	if errors.As(err, &u) {
		return u
	}
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	reason := ReasonInvalid
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		reason = ReasonMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// golang-jwt reports an algorithm outside the allowlist as an
		// invalid signature.
		reason = ReasonSignature
	case errors.Is(err, jwt.ErrInvalidKeyType), errors.Is(err, jwt.ErrTokenUnverifiable):
		reason = ReasonAlgorithm
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		reason = ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = ReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		reason = ReasonIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		reason = ReasonAudience
	}
	return fail(reason, err)
}
