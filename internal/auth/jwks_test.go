package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtgate/rtgate/internal/auth"
	"github.com/rtgate/rtgate/internal/auth/authtest"
)

type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newKeySetVerifier(t *testing.T, url string, clock *manualClock) (*auth.JWKS, *auth.JWT) {
	t.Helper()
	jwks := auth.NewJWKS(auth.JWKSOptions{URL: url, MinRefresh: 30 * time.Second, Now: clock.Now})
	v, err := auth.NewJWT(auth.JWTOptions{Keys: jwks, Algorithms: []string{"RS256"}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return jwks, v
}

func TestJWKSKeyRotation(t *testing.T) {
	clock := &manualClock{now: t0}
	old, next := authtest.NewRSAKey(t, "2026-01"), authtest.NewRSAKey(t, "2026-03")
	srv := authtest.NewJWKSServer(t, old.JWK())
	jwks, v := newKeySetVerifier(t, srv.JWKSURL(), clock)
	verify := func(k *authtest.RSAKey) string {
		t.Helper()
		_, err := v.Verify(request("Authorization: Bearer " + k.Sign(t, authtest.Claims("alice", "", "", clock.Now()))))
		return reason(err)
	}

	if r := verify(old); r != "" || srv.Fetches() != 1 {
		t.Fatalf("first token: %q after %d fetches; want ok after 1 (loaded on first use)", r, srv.Fetches())
	}
	if r := verify(old); r != "" || srv.Fetches() != 1 {
		t.Fatalf("known kid refetched: %q, %d fetches", r, srv.Fetches())
	}

	// The provider publishes a new key and signs with it 5s later; the
	// floor keeps the first unknown-kid refresh from happening before 30s
	// after the last fetch.
	srv.SetKeys(old.JWK(), next.JWK())
	clock.Advance(5 * time.Second)
	if r := verify(next); r != auth.ReasonUnknownKey || srv.Fetches() != 1 {
		t.Fatalf("within the floor: %q after %d fetches; want unknown_key without a fetch", r, srv.Fetches())
	}
	clock.Advance(25 * time.Second)
	if r := verify(next); r != "" || srv.Fetches() != 2 {
		t.Fatalf("new kid after the floor: %q after %d fetches; want ok after 2", r, srv.Fetches())
	}

	// A flood of forged kids costs one fetch per floor, not one per token.
	forged := authtest.NewRSAKey(t, "forged")
	for range 20 {
		if r := verify(forged); r != auth.ReasonUnknownKey {
			t.Fatalf("forged kid: %q", r)
		}
	}
	if srv.Fetches() != 2 {
		t.Fatalf("forged kids caused %d fetches, want none beyond 2", srv.Fetches())
	}
	clock.Advance(30 * time.Second)
	verify(forged)
	if srv.Fetches() != 3 {
		t.Fatalf("after another floor: %d fetches, want 3", srv.Fetches())
	}

	// The old key is withdrawn: a refresh drops it.
	srv.SetKeys(next.JWK())
	if err := jwks.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := verify(old); r != auth.ReasonUnknownKey {
		t.Fatalf("withdrawn key: %q, want unknown_key", r)
	}
}

func TestJWKSUnreachable(t *testing.T) {
	clock := &manualClock{now: t0}
	key := authtest.NewRSAKey(t, "k1")
	srv := authtest.NewJWKSServer(t, key.JWK())
	srv.SetStatus(503)
	jwks, v := newKeySetVerifier(t, srv.JWKSURL(), clock)
	tok := key.Sign(t, authtest.Claims("alice", "", "", t0))

	if err := jwks.Refresh(t.Context()); err == nil {
		t.Fatal("Refresh succeeded against a 503")
	}
	if err := jwks.Ready(t.Context()); err == nil {
		t.Fatal("ready without keys")
	}
	// Never loaded: the token may be good, so 503, not 401.
	if _, err := v.Verify(request("Authorization: Bearer " + tok)); reason(err) != "unavailable" {
		t.Fatalf("never loaded: %v, want unavailable", err)
	}
	srv.SetStatus(200)
	clock.Advance(30 * time.Second)
	if _, err := v.Verify(request("Authorization: Bearer " + tok)); err != nil {
		t.Fatalf("after the provider came back: %v", err)
	}
	if err := jwks.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Down again: the known keys keep working.
	srv.SetStatus(500)
	if err := jwks.Refresh(t.Context()); err == nil {
		t.Fatal("Refresh succeeded against a 500")
	}
	if _, err := v.Verify(request("Authorization: Bearer " + tok)); err != nil {
		t.Fatalf("known keys lost on a failed refresh: %v", err)
	}
}

func TestJWKSRunRetriesUntilLoaded(t *testing.T) {
	key := authtest.NewRSAKey(t, "k1")
	srv := authtest.NewJWKSServer(t, key.JWK())
	srv.SetStatus(503)
	jwks := auth.NewJWKS(auth.JWKSOptions{URL: srv.JWKSURL(), MinRefresh: 10 * time.Millisecond, Refresh: time.Hour})
	go jwks.Run(t.Context())
	for srv.Fetches() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	srv.SetStatus(200)
	for jwks.Ready(t.Context()) != nil {
		time.Sleep(5 * time.Millisecond)
	}
}

func TestParseJWKS(t *testing.T) {
	rsaKey := authtest.NewRSAKey(t, "r")
	ec := authtest.NewECKey(t, "e")
	enc := func(keys ...map[string]string) []byte {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		return b
	}
	with := func(k map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for a, b := range k {
			out[a] = b
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	short := base64.RawURLEncoding.EncodeToString(weak.N.Bytes())
	cases := []struct {
		name string
		doc  []byte
		n    int // usable keys; -1: error
	}{
		{"RSA and EC", enc(rsaKey.JWK(), ec.JWK()), 2},
		{"encryption keys are skipped", enc(rsaKey.JWK(), with(ec.JWK(), "use", "enc")), 1},
		{"only encryption keys", enc(with(rsaKey.JWK(), "use", "enc")), -1},
		{"short RSA modulus", enc(with(rsaKey.JWK(), "n", short)), -1},
		{"unknown curve", enc(with(ec.JWK(), "crv", "secp256k1")), -1},
		{"point not on the curve", enc(with(ec.JWK(), "y", ec.JWK()["x"])), -1},
		{"symmetric key in a JWKS", enc(map[string]string{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}), -1},
		{"not JSON", []byte("<html>"), -1},
		{"empty set", []byte(`{"keys":[]}`), -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := auth.ParseJWKS(tc.doc)
			if tc.n < 0 {
				if err == nil {
					t.Fatalf("parsed %d keys, want an error", len(keys))
				}
				return
			}
			if err != nil || len(keys) != tc.n {
				t.Fatalf("got %d keys, %v; want %d", len(keys), err, tc.n)
			}
		})
	}
}

// TestJWKSTokensWithoutKid: a token without kid is verified only against a
// set of exactly one key, and a kid that is not a string is malformed.
func TestJWKSTokensWithoutKid(t *testing.T) {
	key := authtest.NewRSAKey(t, "only")
	srv := authtest.NewJWKSServer(t, key.JWK())
	clock := &manualClock{now: t0}
	_, v := newKeySetVerifier(t, srv.JWKSURL(), clock)
	claims := authtest.Claims("alice", "", "", t0)
	noKid, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key.Private)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := v.Verify(request("Authorization: Bearer " + noKid)); u != "alice" || err != nil {
		t.Fatalf("no kid, one key: %q %v", u, err)
	}
	numeric := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	numeric.Header["kid"] = 7
	tok, err := numeric.SignedString(key.Private)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(request("Authorization: Bearer " + tok)); reason(err) != auth.ReasonMalformed {
		t.Fatalf("numeric kid: %v", err)
	}
	// The set grows to two keys: a token without kid no longer names one.
	srv.SetKeys(key.JWK(), authtest.NewECKey(t, "second").JWK())
	clock.Advance(time.Minute)
	if _, err := v.Verify(request("Authorization: Bearer " + key.Sign(t, authtest.Claims("alice", "", "", t0)))); err != nil {
		t.Fatal(err)
	}
	stranger := authtest.NewRSAKey(t, "refresh-me")
	_, _ = v.Verify(request("Authorization: Bearer " + stranger.Sign(t, claims))) // unknown kid: refetch after the floor
	if _, err := v.Verify(request("Authorization: Bearer " + noKid)); reason(err) != auth.ReasonUnknownKey {
		t.Fatalf("no kid, two keys: %v", err)
	}
}

// TestParseJWKSIgnoresPrivateMembers: a private member in a published set
// is ignored, and the key still verifies.
func TestParseJWKSIgnoresPrivateMembers(t *testing.T) {
	k := authtest.NewRSAKey(t, "r")
	jwk := k.JWK()
	jwk["d"] = base64.RawURLEncoding.EncodeToString(k.Private.D.Bytes())
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{jwk}})
	kids, err := auth.ParseJWKS(doc)
	if err != nil || len(kids) != 1 || kids[0] != "r" {
		t.Fatalf("%v %v", kids, err)
	}
}
