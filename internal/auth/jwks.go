package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
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

// JWKS is a cached JSON Web Key Set (RFC 7517), the key source of a JWT
// verifier. The keys are parsed by github.com/MicahParks/jwkset and found
// for a token by github.com/MicahParks/keyfunc (kid lookup, the JWK's own
// "alg" against the token's); rtgate adds what those leave to their user:
//
//   - Start-up does not wait for the provider. Until a set was loaded once,
//     lookups return *Unavailable, never a *Failure: a valid token must not
//     be told it is invalid because the provider was down when rtgate
//     started. Run retries every MinRefresh meanwhile, and Ready reports it.
//   - An unknown kid triggers a re-fetch, at most once per MinRefresh on
//     the injected clock (the floor): a provider's key rotation is picked
//     up on the first token signed with the new key, and a flood of forged
//     kids costs the provider one request per floor. A token without kid is
//     accepted only when the set holds exactly one key.
//   - A failed fetch keeps the keys already known; a fetch replaces them
//     all, so a withdrawn key stops working.
//   - Only signature keys that fit their algorithm are kept: RSA of at least
//     2048 bits, EC P-256/P-384/P-521, OKP Ed25519; never a symmetric key.
//     A token's algorithm must fit the key it names (no RSA key for ES256,
//     no P-256 key for ES384, never a public key for HMAC).
type JWKS struct {
	o JWKSOptions

	fetchMu sync.Mutex // one fetch at a time

	store *jwkset.MemoryJWKSet // replaced whole by each successful fetch
	kf    keyfunc.Keyfunc

	mu          sync.RWMutex
	n           int // keys in store
	loaded      bool
	lastAttempt time.Time
	lastErr     error
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
	store := jwkset.NewMemoryStorage()
	kf, err := keyfunc.New(keyfunc.Options{Storage: store})
	if err != nil {
		panic(err) // only for a nil storage
	}
	return &JWKS{o: o, store: store, kf: kf}
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
	if err == nil {
		err = j.store.KeyReplaceAll(ctx, keys)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lastErr = err
	if err != nil {
		j.o.Logger.Warn("jwks fetch failed; keeping the keys already known", "url", j.o.URL, "keys_known", j.n, "error", err.Error())
		return err
	}
	if !j.loaded {
		j.o.Logger.Info("jwks loaded", "url", j.o.URL, "keys", len(keys))
	}
	j.n, j.loaded = len(keys), true
	return nil
}

func (j *JWKS) fetch(ctx context.Context) ([]jwkset.JWK, error) {
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
	kids := make([]string, len(keys))
	for i, k := range keys {
		kids[i] = k.Marshal().KID
	}
	slices.Sort(kids)
	return kids, nil
}

func parseJWKS(doc []byte) ([]jwkset.JWK, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	var (
		out     []jwkset.JWK
		skipped []error
	)
	for _, m := range set.Keys {
		if m.USE != "" && m.USE != jwkset.UseSig {
			continue
		}
		if m.KTY == jwkset.KtyOct {
			// A shared secret has no place in a published key set: taking
			// it would hand HMAC keys to whoever can read the set.
			skipped = append(skipped, fmt.Errorf("kid %q: symmetric key", m.KID))
			continue
		}
		// Public parts only: a private member in a published set is ignored.
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err == nil {
			err = usableKey(k.Key())
		}
		if err != nil {
			skipped = append(skipped, fmt.Errorf("kid %q: %w", m.KID, err))
			continue
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no usable signature key in the set: %w", errors.Join(skipped...))
	}
	return out, nil
}

// usableKey refuses keys jwkset parses but rtgate does not verify with.
func usableKey(key any) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits is too short", k.N.BitLen())
		}
		if k.E < 3 || k.E%2 == 0 {
			return errors.New("bad RSA exponent")
		}
		return nil
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("unsupported key type %T", key)
}

// Keyfunc returns the jwt.Keyfunc that gives a token the public key it
// names (see JWKS for the rules). A key that cannot be given is a *Failure
// (unknown_key, algorithm) or, while no set was ever loaded, *Unavailable.
func (j *JWKS) Keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		kid, ok := "", true
		if v, has := t.Header["kid"]; has {
			if kid, ok = v.(string); !ok {
				return nil, fail(ReasonMalformed, errors.New("kid is not a string"))
			}
		}
		key, err := j.key(ctx, t, kid)
		if errors.Is(err, jwkset.ErrKeyNotFound) {
			j.refreshIfDue(ctx)
			key, err = j.key(ctx, t, kid)
		}
		j.mu.RLock()
		loaded, lastErr := j.loaded, j.lastErr
		j.mu.RUnlock()
		switch {
		case !loaded:
			if lastErr == nil {
				lastErr = errors.New("not fetched yet")
			}
			return nil, unavailable("jwks: no key set loaded: %w", lastErr)
		case errors.Is(err, errSeveralKeys):
			return nil, fail(ReasonUnknownKey, err)
		case errors.Is(err, jwkset.ErrKeyNotFound):
			return nil, fail(ReasonUnknownKey, fmt.Errorf("kid %q not in the key set", kid))
		case err != nil:
			// keyfunc refuses a token whose alg is not the JWK's own.
			return nil, fail(ReasonAlgorithm, err)
		}
		if !keyFits(key, alg) {
			return nil, fail(ReasonAlgorithm, fmt.Errorf("key %q does not fit alg %s", kid, alg))
		}
		return key, nil
	}
}

var errSeveralKeys = errors.New("token has no kid and the key set holds several keys")

// key asks keyfunc for t's key. Without a kid, keyfunc offers every key
// whose alg fits; rtgate accepts that only when the set holds one key.
func (j *JWKS) key(ctx context.Context, t *jwt.Token, kid string) (crypto.PublicKey, error) {
	if kid != "" {
		return j.kf.KeyfuncCtx(ctx)(t)
	}
	j.mu.RLock()
	n := j.n
	j.mu.RUnlock()
	switch {
	case n == 0:
		return nil, jwkset.ErrKeyNotFound
	case n > 1:
		return nil, errSeveralKeys
	}
	v, err := j.kf.KeyfuncCtx(ctx)(t)
	if err != nil {
		return nil, err
	}
	set, ok := v.(jwt.VerificationKeySet)
	if !ok || len(set.Keys) != 1 {
		return nil, errors.New("the only key is not for this token's alg")
	}
	return set.Keys[0], nil
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
