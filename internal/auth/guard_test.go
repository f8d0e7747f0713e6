package auth_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtgate/rtgate/internal/auth"
	"github.com/rtgate/rtgate/internal/auth/authtest"
	"github.com/rtgate/rtgate/internal/reqctx"
)

// fixedVerifier admits "Bearer good" as alice and refuses everything else.
type fixedVerifier struct{ calls int }

func (v *fixedVerifier) Verify(r *http.Request) (string, error) {
	v.calls++
	switch r.Header.Get("Authorization") {
	case "Bearer good":
		return "alice", nil
	case "Bearer down":
		return "", &auth.Unavailable{Err: errors.New("jwks down")}
	case "":
		return "", &auth.Failure{Reason: auth.ReasonMissing}
	}
	return "", &auth.Failure{Reason: auth.ReasonSignature, Err: errors.New("bad signature")}
}

// fromIP returns r as the gateway hands it over: with a request id and
// the resolved client address in its context.
func fromIP(r *http.Request, ip string) *http.Request {
	return r.WithContext(reqctx.With(r.Context(), &reqctx.Values{RequestID: "req-1", ClientIP: netip.MustParseAddr(ip)}))
}

// kind names the error type the Guard returned: the gateway turns a
// failure into 401, limited into 429, unavailable into 503.
func kind(err error) string {
	var f *auth.Failure
	var l *auth.FailureLimited
	var u *auth.Unavailable
	switch {
	case errors.As(err, &f):
		return "failure"
	case errors.As(err, &l):
		return "limited"
	case errors.As(err, &u):
		return "unavailable"
	case err == nil:
		return ""
	}
	return "other: " + err.Error()
}

func TestGuard(t *testing.T) {
	clock := &manualClock{now: t0}
	reg := prometheus.NewRegistry()
	m, err := auth.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	v := &fixedVerifier{}
	g := auth.NewGuard(auth.GuardOptions{Verifier: v, Mode: "jwt", Bearer: true, Metrics: m,
		Failures: auth.NewFailureLimiter(3, time.Minute, 64, 0, clock.Now), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})

	t.Run("good credentials give the user", func(t *testing.T) {
		u, err := g.Authenticate(fromIP(request("Authorization: Bearer good"), "198.51.100.1"))
		if u != "alice" || err != nil {
			t.Fatalf("%q %v", u, err)
		}
	})
	t.Run("a refusal is a failure with a bearer challenge", func(t *testing.T) {
		_, err := g.Authenticate(fromIP(request("Authorization: Bearer forged"), "198.51.100.2"))
		var f *auth.Failure
		if !errors.As(err, &f) || f.Reason != auth.ReasonSignature {
			t.Fatalf("%v", err)
		}
		if c := f.Challenge; c == nil || *c != (auth.Challenge{Scheme: "Bearer", Realm: "rtgate", Error: "invalid_token"}) {
			t.Errorf("challenge = %+v", c)
		}
		_, err = g.Authenticate(fromIP(request(), "198.51.100.2"))
		if errors.As(err, &f); f.Challenge == nil || *f.Challenge != (auth.Challenge{Scheme: "Bearer", Realm: "rtgate"}) {
			t.Errorf("missing credentials challenge = %+v", f.Challenge)
		}
	})
	t.Run("without bearer mode there is no challenge", func(t *testing.T) {
		fwd := auth.NewGuard(auth.GuardOptions{Verifier: &fixedVerifier{}, Mode: "forward"})
		_, err := fwd.Authenticate(fromIP(request("Authorization: Bearer forged"), "198.51.100.4"))
		var f *auth.Failure
		if !errors.As(err, &f) || f.Challenge != nil {
			t.Fatalf("%v (challenge %+v)", err, f)
		}
	})
	t.Run("an unavailable key set is unavailable, not counted as a failure", func(t *testing.T) {
		for range 5 {
			if _, err := g.Authenticate(fromIP(request("Authorization: Bearer down"), "198.51.100.3")); kind(err) != "unavailable" {
				t.Fatalf("%v", err)
			}
		}
	})
	t.Run("a burst of failures from one client is limited without checking", func(t *testing.T) {
		ip := "203.0.113.9"
		for i := range 3 {
			if _, err := g.Authenticate(fromIP(request("Authorization: Bearer forged"), ip)); kind(err) != "failure" {
				t.Fatalf("failure %d: %v", i+1, err)
			}
		}
		calls := v.calls
		_, err := g.Authenticate(fromIP(request("Authorization: Bearer good"), ip))
		var e *auth.FailureLimited
		if !errors.As(err, &e) || e.RetryAfter != 20*time.Second {
			t.Fatalf("after the burst: %v, want limited, retry 20s", err)
		}
		if v.calls != calls {
			t.Error("credentials were checked for a limited client")
		}
		// Other clients, including the same /64 neighbour rule for IPv6, are unaffected.
		if u, err := g.Authenticate(fromIP(request("Authorization: Bearer good"), "203.0.113.10")); u != "alice" || err != nil {
			t.Fatalf("neighbour: %q %v", u, err)
		}
		clock.Advance(20 * time.Second)
		if u, err := g.Authenticate(fromIP(request("Authorization: Bearer good"), ip)); u != "alice" || err != nil {
			t.Fatalf("after the wait: %q %v", u, err)
		}
	})
	t.Run("failures are counted by reason", func(t *testing.T) {
		if n := testutil.ToFloat64(counter(t, reg, "rtgate_auth_failures_total", "signature")); n != 4 {
			t.Errorf("signature failures = %v, want 4", n)
		}
		if n := testutil.ToFloat64(counter(t, reg, "rtgate_auth_failure_limited_total", "")); n != 1 {
			t.Errorf("limited = %v, want 1", n)
		}
		if n := testutil.ToFloat64(counter(t, reg, "rtgate_auth_unavailable_total", "")); n != 5 {
			t.Errorf("unavailable = %v, want 5", n)
		}
	})
	t.Run("audit lines name the reason, never the credential", func(t *testing.T) {
		out := logs.String()
		if !strings.Contains(out, `"event":"auth_failure"`) || !strings.Contains(out, `"reason":"signature"`) || !strings.Contains(out, `"event":"auth_failure_limit_reached"`) {
			t.Errorf("audit lines missing: %s", out)
		}
		if strings.Contains(out, "forged") || strings.Contains(out, "Bearer") {
			t.Errorf("credential in the log: %s", out)
		}
	})
}

// counter finds one series of a registered metric.
func counter(t *testing.T, reg *prometheus.Registry, name, reason string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := reason == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					match = true
				}
			}
			if match {
				return constCounter(m.GetCounter().GetValue())
			}
		}
	}
	t.Fatalf("no %s{reason=%q}", name, reason)
	return nil
}

func constCounter(v float64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "c", Help: "c"}, func() float64 { return v })
}

func TestFailureLimiterBound(t *testing.T) {
	clock := &manualClock{now: t0}
	l := auth.NewFailureLimiter(2, time.Minute, 64, 4, clock.Now)
	offender := netip.MustParseAddr("192.0.2.1")
	l.Fail(offender)
	l.Fail(offender)
	if b, _ := l.Blocked(offender); !b {
		t.Fatal("offender not blocked")
	}
	// A flood of new addresses fills the table; the offender stays
	// blocked and the flood shares one overflow budget.
	limited := 0
	for i := range 50 {
		if lim, _, _ := l.Fail(netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i)})); lim {
			limited++
		}
	}
	if n := l.Len(); n > 4 {
		t.Fatalf("table grew to %d entries, bound 4", n)
	}
	if b, _ := l.Blocked(offender); !b {
		t.Fatal("flooding reset the offender")
	}
	// 3 addresses fit beside the offender, 2 failures fit the overflow
	// budget: the other 45 are limited.
	if limited != 45 {
		t.Fatalf("%d flood failures limited, want 45", limited)
	}
	// An untracked client is never refused unchecked; its failure is.
	fresh := netip.MustParseAddr("10.9.9.9")
	if b, _ := l.Blocked(fresh); b {
		t.Fatal("an untracked client is blocked before it failed")
	}
	if lim, _, wait := l.Fail(fresh); !lim || wait <= 0 {
		t.Fatal("a failure beyond the bound escaped the spent overflow budget")
	}
	// Drained entries are equivalent to none and make room again.
	clock.Advance(time.Minute)
	l.Fail(netip.MustParseAddr("10.8.8.8"))
	if n := l.Len(); n != 1 {
		t.Fatalf("after draining: %d entries, want 1", n)
	}
}

func TestFailureLimiterOffIsNil(t *testing.T) {
	var l *auth.FailureLimiter = auth.NewFailureLimiter(0, time.Minute, 64, 0, nil)
	if l != nil {
		t.Fatal("max 0 gave a limiter")
	}
	if lim, exhausted, _ := l.Fail(netip.MustParseAddr("192.0.2.1")); lim || exhausted {
		t.Fatal("nil limiter limits")
	}
	if b, _ := l.Blocked(netip.MustParseAddr("192.0.2.1")); b {
		t.Fatal("nil limiter limits")
	}
}

// TestFailureFloodCostsOnlyTheFlooders is the attack of issue 11, item 4:
// failing credentials from 100,000 addresses fill the failure table, yet a
// valid token from an address that never failed is admitted; the flooders
// are the ones limited (each over its own budget, and the addresses beyond
// the table's bound in one shared overflow budget).
func TestFailureFloodCostsOnlyTheFlooders(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	clock := &manualClock{now: t0}
	v, err := auth.NewJWT(auth.JWTOptions{Secret: secret, Algorithms: []string{"HS256"}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	const flood = 100_000
	g := auth.NewGuard(auth.GuardOptions{Verifier: v, Mode: "jwt", Bearer: true,
		Failures: auth.NewFailureLimiter(10, time.Minute, 64, flood, clock.Now)})
	forged := request("Authorization: Bearer forged")
	addr := func(i int) string { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String() }
	limited := 0
	for i := range flood + 50 {
		_, err := g.Authenticate(fromIP(forged, addr(i)))
		switch kind(err) {
		case "failure":
		case "limited":
			limited++
		default:
			t.Fatalf("flooder %d: %v", i, err)
		}
	}
	good := request("Authorization: Bearer " + authtest.HS256(t, secret, "", authtest.Claims("alice", "", "", t0)))
	if u, err := g.Authenticate(fromIP(good, "203.0.113.7")); u != "alice" || err != nil {
		t.Fatalf("a valid token from a fresh address after the flood: %q %v", u, err)
	}
	if limited == 0 {
		t.Error("the flood beyond the table's bound was never limited")
	}
	t.Logf("after %d failing addresses: the valid token from a fresh address admitted (refused 0 of 1); %d flood failures limited (429)", flood+50, limited)
	// A flooder past its own budget is refused without a check, even with
	// a valid token: a credential stuffer on one address stays slowed.
	for range 10 {
		_, _ = g.Authenticate(fromIP(forged, addr(7)))
	}
	if _, err := g.Authenticate(fromIP(good, addr(7))); kind(err) != "limited" {
		t.Fatalf("a flooder over its budget: %v", err)
	}
}
