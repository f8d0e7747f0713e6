package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"net/http"
	"slices"
	"sync"
	"time"
)

// JWKS defaults.
const (
	// DefaultJWKSRefresh is how often the key set is re-fetched in the
	// background, so a key the provider withdrew stops working.
	DefaultJWKSRefresh = 15 * time.Minute
	// DefaultJWKSMinRefresh is the floor between two fetches triggered by
	// tokens with an unknown kid: a flood of forged kids costs the identity
	// provider at most one request per floor.
	DefaultJWKSMinRefresh = 30 * time.Second
	// DefaultJWKSTimeout bounds one fetch.
	DefaultJWKSTimeout = 5 * time.Second
	// maxJWKSBytes bounds the key set document.
	maxJWKSBytes = 1 << 20
	// minRSABits is the smallest RSA modulus accepted.
	minRSABits = 2048
)

// JWKSOptions configures a JWKS.
type JWKSOptions struct {
	URL string
	// Client fetches the key set; a client with a DefaultJWKSTimeout
	// timeout when nil.
	Client *http.Client
	// Refresh is the background refresh period (DefaultJWKSRefresh).
	Refresh time.Duration
	// MinRefresh is the floor between fetches caused by unknown kids, and
	// the retry period while no key set was ever loaded (DefaultJWKSMinRefresh).
	MinRefresh time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives fetch failures; discarded when nil.
	Logger *slog.Logger
	// OnFetch, when set, is called after every fetch with its outcome
	// (for metrics).
	OnFetch func(err error)
}

// JWKS is a cached JSON Web Key Set (RFC 7517). Keys are looked up by kid;
// an unknown kid triggers a re-fetch (at most once per MinRefresh), so a
// provider's key rotation is picked up on the first token signed with the
// new key. A failed fetch keeps the keys already known. Until a set was
// loaded once, lookups return *Unavailable (503), never a 401: a valid
// token must not be told it is invalid because the provider was down when
// rtgate started.
type JWKS struct {
	o JWKSOptions

	fetchMu sync.Mutex // one fetch at a time

	mu          sync.RWMutex
	keys        map[string]jwk
	loaded      bool
	lastAttempt time.Time
	lastErr     error
}

type jwk struct {
	key crypto.PublicKey
	alg string // the JWK's own "alg", "" when absent
}

// NewJWKS returns a key set that fetches from o.URL on first use or on
// Refresh. It does no I/O.
func NewJWKS(o JWKSOptions) *JWKS {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: DefaultJWKSTimeout}
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultJWKSRefresh
	}
	if o.MinRefresh <= 0 {
		o.MinRefresh = DefaultJWKSMinRefresh
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &JWKS{o: o, keys: map[string]jwk{}}
}

// Refresh fetches the key set now, whatever the floor.
func (j *JWKS) Refresh(ctx context.Context) error {
	j.fetchMu.Lock()
	defer j.fetchMu.Unlock()
	return j.fetchLocked(ctx)
}

// refreshIfDue fetches unless a fetch started less than MinRefresh ago.
// Concurrent callers wait for one fetch instead of each starting their own.
func (j *JWKS) refreshIfDue(ctx context.Context) {
	j.fetchMu.Lock()
	defer j.fetchMu.Unlock()
	j.mu.RLock()
	last := j.lastAttempt
	j.mu.RUnlock()
	if !last.IsZero() && j.o.Now().Sub(last) < j.o.MinRefresh {
		return
	}
	// A client that gives up must not abort a fetch others wait for; the
	// HTTP client's timeout bounds it.
	_ = j.fetchLocked(context.WithoutCancel(ctx))
}

func (j *JWKS) fetchLocked(ctx context.Context) error {
	j.mu.Lock()
	j.lastAttempt = j.o.Now()
	j.mu.Unlock()
	keys, err := j.fetch(ctx)
	if j.o.OnFetch != nil {
		j.o.OnFetch(err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lastErr = err
	if err != nil {
		j.o.Logger.Warn("jwks fetch failed; keeping the keys already known", "url", j.o.URL, "keys_known", len(j.keys), "error", err.Error())
		return err
	}
	if !j.loaded {
		j.o.Logger.Info("jwks loaded", "url", j.o.URL, "keys", len(keys))
	}
	j.keys, j.loaded = keys, true
	return nil
}

func (j *JWKS) fetch(ctx context.Context) (map[string]jwk, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.o.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, errors.New("key set larger than 1 MiB")
	}
	return parseJWKS(body)
}

// ParseJWKS parses a JWK Set document and returns the kids of its usable
// keys, sorted. Keys that are not signature keys, of an unsupported type,
// or malformed are skipped; a set with no usable key is an error.
// Supported: RSA (at least 2048 bits), EC P-256/P-384/P-521, OKP Ed25519.
func ParseJWKS(doc []byte) ([]string, error) {
	keys, err := parseJWKS(doc)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(keys)), nil
}

func parseJWKS(doc []byte) (map[string]jwk, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	out := map[string]jwk{}
	var skipped []error
	for _, raw := range set.Keys {
		var k struct {
			Kty, Kid, Use, Alg, Crv, N, E, X, Y string
		}
		if err := json.Unmarshal(raw, &k); err != nil {
			skipped = append(skipped, err)
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		key, err := parseJWK(k.Kty, k.Crv, k.N, k.E, k.X, k.Y)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("kid %q: %w", k.Kid, err))
			continue
		}
		out[k.Kid] = jwk{key: key, alg: k.Alg}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no usable signature key in the set: %w", errors.Join(skipped...))
	}
	return out, nil
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func parseJWK(kty, crv, n, e, x, y string) (crypto.PublicKey, error) {
	switch kty {
	case "RSA":
		nb, err1 := b64(n)
		eb, err2 := b64(e)
		if err1 != nil || err2 != nil || len(nb) == 0 || len(eb) == 0 || len(eb) > 4 {
			return nil, errors.New("bad RSA modulus or exponent")
		}
		N := new(big.Int).SetBytes(nb)
		E := int(new(big.Int).SetBytes(eb).Int64())
		if N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is too short", N.BitLen())
		}
		if E < 3 || E%2 == 0 {
			return nil, errors.New("bad RSA exponent")
		}
		return &rsa.PublicKey{N: N, E: E}, nil
	case "EC":
		var curve elliptic.Curve
		switch crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("unsupported curve %q", crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		xb, err1 := b64(x)
		yb, err2 := b64(y)
		if err1 != nil || err2 != nil || len(xb) > size || len(yb) > size {
			return nil, errors.New("bad EC point")
		}
		pt := make([]byte, 1+2*size)
		pt[0] = 4
		copy(pt[1+size-len(xb):1+size], xb)
		copy(pt[1+2*size-len(yb):], yb)
		return ecdsa.ParseUncompressedPublicKey(curve, pt)
	case "OKP":
		if crv != "Ed25519" {
			return nil, fmt.Errorf("unsupported OKP curve %q", crv)
		}
		xb, err := b64(x)
		if err != nil || len(xb) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		return ed25519.PublicKey(xb), nil
	}
	return nil, fmt.Errorf("unsupported key type %q", kty)
}

// Key returns the public key for kid to verify a token signed with alg.
// An unknown kid triggers one refresh (subject to the floor). A token
// without kid is accepted only when the set holds exactly one key.
func (j *JWKS) Key(ctx context.Context, kid, alg string) (crypto.PublicKey, error) {
	k, ok, loaded, n := j.lookup(kid)
	if !ok {
		j.refreshIfDue(ctx)
		k, ok, loaded, n = j.lookup(kid)
	}
	switch {
	case !loaded:
		j.mu.RLock()
		err := j.lastErr
		j.mu.RUnlock()
		if err == nil {
			err = errors.New("not fetched yet")
		}
		return nil, unavailable("jwks: no key set loaded: %w", err)
	case !ok && kid == "" && n > 1:
		return nil, fail(ReasonUnknownKey, errors.New("token has no kid and the key set holds several keys"))
	case !ok:
		return nil, fail(ReasonUnknownKey, fmt.Errorf("kid %q not in the key set", kid))
	}
	if k.alg != "" && k.alg != alg {
		return nil, fail(ReasonAlgorithm, fmt.Errorf("token alg %s, key %q is for %s", alg, kid, k.alg))
	}
	if !keyFits(k.key, alg) {
		return nil, fail(ReasonAlgorithm, fmt.Errorf("key %q does not fit alg %s", kid, alg))
	}
	return k.key, nil
}

func (j *JWKS) lookup(kid string) (k jwk, ok, loaded bool, n int) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	n = len(j.keys)
	if kid == "" && n == 1 {
		for _, only := range j.keys {
			k = only
		}
		return k, true, j.loaded, n
	}
	k, ok = j.keys[kid]
	return k, ok, j.loaded, n
}

// keyFits reports whether key is of the kind alg needs: no RSA key for an
// ECDSA algorithm, no P-256 key for ES384, and never a public key for HMAC.
func keyFits(key crypto.PublicKey, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	case *ecdsa.PublicKey:
		bits := k.Curve.Params().BitSize
		return alg == "ES256" && bits == 256 || alg == "ES384" && bits == 384 || alg == "ES512" && bits == 521
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// Ready returns nil once a key set has been loaded, else why not.
func (j *JWKS) Ready(context.Context) error {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.loaded {
		return nil
	}
	if j.lastErr != nil {
		return fmt.Errorf("jwks not loaded: %v", j.lastErr)
	}
	return errors.New("jwks not loaded yet")
}

// Run refreshes the key set until ctx ends: every MinRefresh while none
// was ever loaded, then every Refresh period.
func (j *JWKS) Run(ctx context.Context) {
	for {
		j.mu.RLock()
		wait := j.o.Refresh
		if !j.loaded {
			wait = j.o.MinRefresh
		}
		j.mu.RUnlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		_ = j.Refresh(ctx)
	}
}
