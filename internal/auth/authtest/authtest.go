// Package authtest provides what auth tests need on both sides of the
// wire: signing keys, tokens, and a JWKS server whose key set a test can
// rotate.
package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// RSAKey is an RSA signing key with its kid.
type RSAKey struct {
	Kid     string
	Private *rsa.PrivateKey
}

// NewRSAKey generates a 2048-bit key.
func NewRSAKey(t testing.TB, kid string) *RSAKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &RSAKey{Kid: kid, Private: k}
}

// PublicPEM is the public key as PEM (what an HS/RS confusion attack signs with).
func (k *RSAKey) PublicPEM(t testing.TB) []byte {
	der, err := x509.MarshalPKIXPublicKey(&k.Private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// JWK is the public key as a JWK.
func (k *RSAKey) JWK() map[string]string {
	return map[string]string{
		"kty": "RSA", "kid": k.Kid, "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(k.Private.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.Private.E)).Bytes()),
	}
}

// Sign signs claims with RS256 under the key's kid.
func (k *RSAKey) Sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = k.Kid
	s, err := tok.SignedString(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ECKey is a P-256 key with its kid.
type ECKey struct {
	Kid     string
	Private *ecdsa.PrivateKey
}

// NewECKey generates a P-256 key.
func NewECKey(t testing.TB, kid string) *ECKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &ECKey{Kid: kid, Private: k}
}

// JWK is the public key as a JWK.
func (k *ECKey) JWK() map[string]string {
	pt, err := k.Private.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	n := (len(pt) - 1) / 2
	return map[string]string{
		"kty": "EC", "kid": k.Kid, "use": "sig", "crv": "P-256",
		"x": base64.RawURLEncoding.EncodeToString(pt[1 : 1+n]),
		"y": base64.RawURLEncoding.EncodeToString(pt[1+n:]),
	}
}

// Sign signs claims with ES256 under the key's kid.
func (k *ECKey) Sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = k.Kid
	s, err := tok.SignedString(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// HS256 signs claims with a shared secret; kid is set when not empty.
func HS256(t testing.TB, secret []byte, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// None returns an unsigned token (alg "none").
func None(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Claims returns standard valid claims for user at now.
func Claims(user, iss, aud string, now time.Time) jwt.MapClaims {
	c := jwt.MapClaims{"sub": user, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	if iss != "" {
		c["iss"] = iss
	}
	if aud != "" {
		c["aud"] = aud
	}
	return c
}

// JWKSServer serves a key set that the test can change; it counts fetches.
type JWKSServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	status  int
	fetches atomic.Int64
}

// NewJWKSServer serves keys at /jwks.json on loopback until the test ends.
func NewJWKSServer(t testing.TB, keys ...map[string]string) *JWKSServer {
	s := &JWKSServer{keys: keys, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		status, set := s.status, map[string]any{"keys": s.keys}
		s.mu.Unlock()
		if status != http.StatusOK {
			http.Error(w, "down", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(s.Close)
	return s
}

// JWKSURL is the key set's URL.
func (s *JWKSServer) JWKSURL() string { return s.URL + "/jwks.json" }

// SetKeys replaces the served keys.
func (s *JWKSServer) SetKeys(keys ...map[string]string) {
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

// SetStatus makes the server answer with status (200 serves the keys).
func (s *JWKSServer) SetStatus(status int) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
}

// Fetches returns the number of requests served.
func (s *JWKSServer) Fetches() int { return int(s.fetches.Load()) }
