package auth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtgate/rtgate/internal/auth"
	"github.com/rtgate/rtgate/internal/auth/authtest"
)

const (
	iss = "https://idp.example.com/"
	aud = "https://rtgate.example.com"
)

var t0 = time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)

func request(header ...string) *http.Request {
	r := httptest.NewRequest("POST", "/api/realtime-session", nil)
	for _, h := range header {
		k, v, _ := strings.Cut(h, ":")
		r.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return r
}

func reason(err error) string {
	var f *auth.Failure
	if errors.As(err, &f) {
		return f.Reason
	}
	var u *auth.Unavailable
	if errors.As(err, &u) {
		return "unavailable"
	}
	if err == nil {
		return ""
	}
	return "other: " + err.Error()
}

func TestJWTWithASharedSecret(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := auth.NewJWT(auth.JWTOptions{Secret: secret, Algorithms: []string{"HS256"}, Issuer: iss, Audience: aud,
		Leeway: 30 * time.Second, Cookie: "rt_session", Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	rsa := authtest.NewRSAKey(t, "k1")
	good := authtest.Claims("alice", iss, aud, t0)
	with := func(k string, val any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range good {
			c[k] = v
		}
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	hs := func(c jwt.MapClaims) string { return authtest.HS256(t, secret, "", c) }
	// withHeader signs good with extra JOSE header parameters.
	withHeader := func(h map[string]any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, good)
		for k, v := range h {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name   string
		header []string
		user   string
		reason string
	}{
		{"valid bearer token", []string{"Authorization: Bearer " + hs(good)}, "alice", ""},
		{"bearer scheme is case-insensitive", []string{"Authorization: bearer " + hs(good)}, "alice", ""},
		{"cookie when there is no header", []string{"Cookie: rt_session=" + hs(good)}, "alice", ""},
		{"cookie with an allowed Origin", []string{"Cookie: rt_session=" + hs(good), "Origin: https://app.example.com", "Sec-Fetch-Site: cross-site"}, "alice", ""},
		{"cookie on a cross-site request without Origin", []string{"Cookie: rt_session=" + hs(good), "Sec-Fetch-Site: cross-site"}, "", auth.ReasonCrossSiteCookie},
		{"expired within leeway", []string{"Authorization: Bearer " + hs(with("exp", t0.Add(-20*time.Second).Unix()))}, "alice", ""},
		{"expired", []string{"Authorization: Bearer " + hs(with("exp", t0.Add(-time.Minute).Unix()))}, "", auth.ReasonExpired},
		{"no exp", []string{"Authorization: Bearer " + hs(with("exp", nil))}, "", auth.ReasonExpired},
		{"not yet valid", []string{"Authorization: Bearer " + hs(with("nbf", t0.Add(time.Minute).Unix()))}, "", auth.ReasonNotYetValid},
		{"issued in the future", []string{"Authorization: Bearer " + hs(with("iat", t0.Add(time.Minute).Unix()))}, "", auth.ReasonNotYetValid},
		{"wrong issuer", []string{"Authorization: Bearer " + hs(with("iss", "https://evil.example.com/"))}, "", auth.ReasonIssuer},
		{"wrong audience", []string{"Authorization: Bearer " + hs(with("aud", "https://other-api.example.com"))}, "", auth.ReasonAudience},
		{"audience list containing ours", []string{"Authorization: Bearer " + hs(with("aud", []string{"x", aud}))}, "alice", ""},
		{"bad signature", []string{"Authorization: Bearer " + authtest.HS256(t, []byte("another-secret-another-secret-xx"), "", good)}, "", auth.ReasonSignature},
		{"alg none", []string{"Authorization: Bearer " + authtest.None(t, good)}, "", auth.ReasonSignature},
		{"RS256 token", []string{"Authorization: Bearer " + rsa.Sign(t, good)}, "", auth.ReasonSignature},
		{"missing sub", []string{"Authorization: Bearer " + hs(with("sub", nil))}, "", auth.ReasonNoUser},
		{"numeric sub", []string{"Authorization: Bearer " + hs(with("sub", 42))}, "", auth.ReasonNoUser},
		{"sub with a control character", []string{"Authorization: Bearer " + hs(with("sub", "a\nb"))}, "", auth.ReasonNoUser},
		// RFC 7515 §4.1.11: a recipient must refuse a token whose "crit"
		// names an extension it does not understand; rtgate understands none.
		{"crit naming an unknown extension", []string{"Authorization: Bearer " + withHeader(map[string]any{"crit": []string{"urn:example:policy"}, "urn:example:policy": "x"})}, "", auth.ReasonMalformed},
		{"crit b64 (unencoded payload)", []string{"Authorization: Bearer " + withHeader(map[string]any{"crit": []string{"b64"}, "b64": false})}, "", auth.ReasonMalformed},
		{"crit empty (itself invalid)", []string{"Authorization: Bearer " + withHeader(map[string]any{"crit": []string{}})}, "", auth.ReasonMalformed},
		{"unknown non-critical header is ignored", []string{"Authorization: Bearer " + withHeader(map[string]any{"x-note": "hi"})}, "alice", ""},
		{"garbage", []string{"Authorization: Bearer not-a-token"}, "", auth.ReasonMalformed},
		{"three garbage segments", []string{"Authorization: Bearer a.b.c"}, "", auth.ReasonMalformed},
		{"basic auth", []string{"Authorization: Basic YWxpY2U6cHc="}, "", auth.ReasonMalformed},
		{"empty bearer", []string{"Authorization: Bearer "}, "", auth.ReasonMalformed},
		{"two Authorization headers", []string{"Authorization: Bearer " + hs(good), "Authorization: Bearer " + hs(good)}, "", auth.ReasonMalformed},
		{"no credentials", nil, "", auth.ReasonMissing},
		{"other cookie only", []string{"Cookie: other=" + hs(good)}, "", auth.ReasonMissing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user, err := v.Verify(request(tc.header...))
			if user != tc.user || reason(err) != tc.reason {
				t.Fatalf("Verify = %q, %v (reason %q); want %q, reason %q", user, err, reason(err), tc.user, tc.reason)
			}
		})
	}
}

func TestJWTWithAKeySet(t *testing.T) {
	rsaKey := authtest.NewRSAKey(t, "rsa-1")
	ecKey := authtest.NewECKey(t, "ec-1")
	srv := authtest.NewJWKSServer(t, rsaKey.JWK(), ecKey.JWK())
	jwks := auth.NewJWKS(auth.JWKSOptions{URL: srv.JWKSURL(), Now: func() time.Time { return t0 }})
	v, err := auth.NewJWT(auth.JWTOptions{Keys: jwks, Algorithms: []string{"RS256", "ES256"}, Issuer: iss, Audience: aud,
		Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	good := authtest.Claims("alice", iss, aud, t0)
	other := authtest.NewRSAKey(t, "rsa-1") // same kid, different key
	unknown := authtest.NewRSAKey(t, "rsa-unknown")
	noKid := jwt.NewWithClaims(jwt.SigningMethodRS256, good)
	noKidTok, _ := noKid.SignedString(rsaKey.Private)
	es256WithRSAKid := jwt.NewWithClaims(jwt.SigningMethodES256, good)
	es256WithRSAKid.Header["kid"] = "rsa-1"
	es256WithRSAKidTok, _ := es256WithRSAKid.SignedString(ecKey.Private)
	cases := []struct {
		name, token, user, reason string
	}{
		{"RS256 by kid", rsaKey.Sign(t, good), "alice", ""},
		{"ES256 by kid", ecKey.Sign(t, good), "alice", ""},
		{"HS256 signed with the RSA public key", authtest.HS256(t, rsaKey.PublicPEM(t), "rsa-1", good), "", auth.ReasonSignature},
		{"HS256 signed with the RSA modulus", authtest.HS256(t, rsaKey.Private.N.Bytes(), "rsa-1", good), "", auth.ReasonSignature},
		{"alg none", authtest.None(t, good), "", auth.ReasonSignature},
		{"bad signature (same kid, other key)", other.Sign(t, good), "", auth.ReasonSignature},
		{"unknown kid", unknown.Sign(t, good), "", auth.ReasonUnknownKey},
		{"no kid with several keys", noKidTok, "", auth.ReasonUnknownKey},
		{"ES256 naming an RSA key", es256WithRSAKidTok, "", auth.ReasonAlgorithm},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user, err := v.Verify(request("Authorization: Bearer " + tc.token))
			if user != tc.user || reason(err) != tc.reason {
				t.Fatalf("Verify = %q, %v (reason %q); want %q, reason %q", user, err, reason(err), tc.user, tc.reason)
			}
		})
	}
}

func TestNewJWTRefusesConfusableConfigurations(t *testing.T) {
	jwks := auth.NewJWKS(auth.JWKSOptions{URL: "http://127.0.0.1:1/jwks.json"})
	secret := []byte("0123456789abcdef0123456789abcdef")
	cases := []struct {
		name string
		o    auth.JWTOptions
	}{
		{"no key source", auth.JWTOptions{Algorithms: []string{"HS256"}}},
		{"both key sources", auth.JWTOptions{Secret: secret, Keys: jwks, Algorithms: []string{"HS256"}}},
		{"RS256 with a secret", auth.JWTOptions{Secret: secret, Algorithms: []string{"RS256"}}},
		{"HS256 with a key set", auth.JWTOptions{Keys: jwks, Algorithms: []string{"RS256", "HS256"}}},
		{"none", auth.JWTOptions{Secret: secret, Algorithms: []string{"none"}}},
		{"empty allowlist", auth.JWTOptions{Secret: secret}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := auth.NewJWT(tc.o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
