package auth_test

import (
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/auth"
	"github.com/rtgate/rtgate/internal/auth/authtest"
)

// FuzzJWTVerify feeds arbitrary Authorization values: the verifier must
// never panic and never admit anything but a token signed with the secret.
func FuzzJWTVerify(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	good := authtest.HS256(f, secret, "", authtest.Claims("alice", "", "", t0))
	for _, s := range []string{"Bearer " + good, "Bearer " + good + "x", "Bearer a.b.c", "Bearer ...", "Bearer eyJhbGciOiJub25lIn0.e30.",
		"Basic x", "Bearer", "bearer  " + good, "Bearer " + good[:len(good)/2]} {
		f.Add(s)
	}
	v, err := auth.NewJWT(auth.JWTOptions{Secret: secret, Algorithms: []string{"HS256"}, Now: func() time.Time { return t0 }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := request()
		r.Header.Set("Authorization", header)
		user, err := v.Verify(r)
		if err == nil && user != "alice" {
			t.Fatalf("admitted %q for %q", user, header)
		}
		if err != nil && user != "" {
			t.Fatalf("user %q with an error", user)
		}
	})
}

// FuzzParseJWKS feeds arbitrary key-set documents: never a panic.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		kids, err := auth.ParseJWKS(doc)
		if err == nil && len(kids) == 0 {
			t.Fatal("no error and no keys")
		}
	})
}

func BenchmarkJWTVerifyHS256(b *testing.B) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := auth.NewJWT(auth.JWTOptions{Secret: secret, Algorithms: []string{"HS256"}, Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	r := request("Authorization: Bearer " + authtest.HS256(b, secret, "", authtest.Claims("alice", "", "", t0)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJWTVerifyRS256JWKS(b *testing.B) {
	key := authtest.NewRSAKey(b, "k1")
	srv := authtest.NewJWKSServer(b, key.JWK())
	jwks := auth.NewJWKS(auth.JWKSOptions{URL: srv.JWKSURL()})
	v, err := auth.NewJWT(auth.JWTOptions{Keys: jwks, Algorithms: []string{"RS256"}, Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	r := request("Authorization: Bearer " + key.Sign(b, authtest.Claims("alice", "", "", t0)))
	if _, err := v.Verify(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
