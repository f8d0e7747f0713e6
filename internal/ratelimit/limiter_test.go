package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/ratelimit/storetest"
)

var guide = ratelimit.Policy{Limit: 10, Window: time.Minute}

func newLimiter(t *testing.T, o ratelimit.Options) (*ratelimit.Limiter, *storetest.Clock) {
	t.Helper()
	clock := storetest.NewClock()
	if o.Store == nil {
		o.Store = ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
	}
	if o.IP == (ratelimit.Policy{}) {
		o.IP = guide
	}
	l, err := ratelimit.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return l, clock
}

func exhaust(t *testing.T, l *ratelimit.Limiter, ip netip.Addr, n int) {
	t.Helper()
	for i := range n {
		d, err := l.AllowIP(context.Background(), ip)
		if err != nil || !d.Allowed {
			t.Fatalf("request %d from %v: %+v %v", i+1, ip, d, err)
		}
	}
}

func TestAllowIPKeys(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		first, then string
		shared      bool
	}{
		{"IPv4-mapped IPv6 is the IPv4 address", "192.0.2.7", "::ffff:192.0.2.7", true},
		{"IPv4 addresses are separate", "192.0.2.7", "192.0.2.8", false},
		{"IPv6 in one /64 share a limit", "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"IPv6 in different /64s are separate", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"an IPv6 zone does not make a new client", "fe80::1%eth0", "fe80::1%eth1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newLimiter(t, ratelimit.Options{})
			exhaust(t, l, netip.MustParseAddr(tt.first), 10)
			d, err := l.AllowIP(ctx, netip.MustParseAddr(tt.then))
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed == tt.shared {
				t.Fatalf("second address allowed=%v; want shared=%v", d.Allowed, tt.shared)
			}
			if d.Scope != ratelimit.ScopeIP {
				t.Fatalf("scope %q", d.Scope)
			}
		})
	}
}

func TestIPKey(t *testing.T) {
	tests := []struct {
		addr   string
		prefix int
		want   string
	}{
		{"203.0.113.45", 64, "ip:203.0.113.45"},
		{"::ffff:203.0.113.45", 64, "ip:203.0.113.45"},
		{"2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", 64, "ip:2001:db8:aaaa:bbbb::/64"},
		{"2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", 48, "ip:2001:db8:aaaa::/48"},
		{"2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", 128, "ip:2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/128"},
		{"fe80::1%eth0", 64, "ip:fe80::/64"},
	}
	for _, tt := range tests {
		got, err := ratelimit.IPKey(netip.MustParseAddr(tt.addr), tt.prefix)
		if err != nil || got != tt.want {
			t.Errorf("IPKey(%s, %d) = %q, %v; want %q", tt.addr, tt.prefix, got, err, tt.want)
		}
	}
	if _, err := ratelimit.IPKey(netip.Addr{}, 64); !errors.Is(err, ratelimit.ErrInvalidAddr) {
		t.Errorf("zero address: %v", err)
	}
	if _, err := ratelimit.IPKey(netip.MustParseAddr("2001:db8::1"), 0); err == nil {
		t.Error("prefix 0 accepted")
	}
}

func TestAllowIPInvalidAddressIsAnErrorNotAKey(t *testing.T) {
	l, _ := newLimiter(t, ratelimit.Options{})
	if _, err := l.AllowIP(context.Background(), netip.Addr{}); !errors.Is(err, ratelimit.ErrInvalidAddr) {
		t.Fatalf("err = %v", err)
	}
}

func TestWhitelistIsNeverLimited(t *testing.T) {
	l, _ := newLimiter(t, ratelimit.Options{Whitelist: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("::ffff:198.51.100.0/120"), // mapped form folds to 198.51.100.0/24
	}})
	var h http.Header = http.Header{}
	for _, ip := range []string{"10.1.2.3", "::ffff:10.1.2.3", "198.51.100.9"} {
		for range 20 {
			d, err := l.AllowIP(context.Background(), netip.MustParseAddr(ip))
			if err != nil || !d.Allowed || !d.Skipped {
				t.Fatalf("%s: %+v %v", ip, d, err)
			}
			l.SetHeaders(h, d)
		}
	}
	if len(h) != 0 {
		t.Fatalf("headers on skipped decisions: %v", h)
	}
	exhaust(t, l, netip.MustParseAddr("11.0.0.1"), 10)
	if d, _ := l.AllowIP(context.Background(), netip.MustParseAddr("11.0.0.1")); d.Allowed {
		t.Fatal("non-whitelisted address not limited")
	}
}

func TestShadowModeAdmitsButCountsAndLogs(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := ratelimit.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	l, _ := newLimiter(t, ratelimit.Options{Shadow: true, Metrics: m, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	ip := netip.MustParseAddr("192.0.2.1")
	exhaust(t, l, ip, 10)
	d, err := l.AllowIP(context.Background(), ip)
	if err != nil || !d.Allowed || !d.Shadowed || d.RetryAfter != 6*time.Second {
		t.Fatalf("over limit in shadow mode: %+v %v", d, err)
	}
	h := http.Header{}
	l.SetHeaders(h, d)
	if len(h) != 0 {
		t.Fatalf("shadowed decision set headers: %v", h)
	}
	if got := testutil.ToFloat64(m.DecisionsCounter(ratelimit.ScopeIP, ratelimit.OutcomeShadowDenied)); got != 1 {
		t.Fatalf("shadow_denied = %v", got)
	}
	if got := testutil.ToFloat64(m.DecisionsCounter(ratelimit.ScopeIP, ratelimit.OutcomeAllowed)); got != 10 {
		t.Fatalf("allowed = %v", got)
	}
	if !strings.Contains(logs.String(), "shadow") || strings.Contains(logs.String(), "192.0.2.1") {
		t.Fatalf("log must mention shadow and never the IP: %s", logs.String())
	}
}

func TestAllowUser(t *testing.T) {
	ctx := context.Background()
	t.Run("zero user policy is skipped", func(t *testing.T) {
		l, _ := newLimiter(t, ratelimit.Options{})
		d, err := l.AllowUser(ctx, "alice")
		if err != nil || !d.Allowed || !d.Skipped || d.Scope != ratelimit.ScopeUser {
			t.Fatalf("%+v %v", d, err)
		}
	})
	t.Run("users are limited separately from IPs and from each other", func(t *testing.T) {
		l, _ := newLimiter(t, ratelimit.Options{User: ratelimit.Policy{Limit: 2, Window: time.Hour}})
		for range 2 {
			if d, _ := l.AllowUser(ctx, "alice"); !d.Allowed {
				t.Fatal("alice denied early")
			}
		}
		if d, _ := l.AllowUser(ctx, "alice"); d.Allowed || d.Scope != ratelimit.ScopeUser {
			t.Fatalf("alice third: %+v", d)
		}
		if d, _ := l.AllowUser(ctx, "bob"); !d.Allowed {
			t.Fatal("bob denied")
		}
		if _, err := l.AllowUser(ctx, ""); err == nil {
			t.Fatal("empty user id accepted")
		}
	})
}

type failingStore struct{}

func (failingStore) Allow(context.Context, string, ratelimit.Policy) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, errors.New("boom")
}

func TestStoreErrorIsReturned(t *testing.T) {
	l, _ := newLimiter(t, ratelimit.Options{Store: failingStore{}})
	if _, err := l.AllowIP(context.Background(), netip.MustParseAddr("192.0.2.1")); err == nil {
		t.Fatal("store error swallowed")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    ratelimit.Options
	}{
		{"no store with a policy", ratelimit.Options{IP: guide}},
		{"bad IPv6 prefix", ratelimit.Options{IP: guide, IPv6Prefix: 129, Store: failingStore{}}},
		{"bad header mode", ratelimit.Options{IP: guide, Headers: "x-ratelimit", Store: failingStore{}}},
		{"bad policy", ratelimit.Options{IP: ratelimit.Policy{Limit: 5}, Store: failingStore{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ratelimit.New(tt.o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestSetHeaders(t *testing.T) {
	allowed := ratelimit.Decision{Allowed: true, Limit: 10, Window: time.Minute, Remaining: 9, ResetAfter: 6 * time.Second, Scope: "ip"}
	denied := ratelimit.Decision{Limit: 10, Window: time.Minute, RetryAfter: 5500 * time.Millisecond, ResetAfter: 59500 * time.Millisecond, Scope: "ip"}
	user := ratelimit.Decision{Allowed: true, Limit: 100, Window: 24 * time.Hour, Remaining: 99, ResetAfter: 864 * time.Second, Scope: "user"}
	tests := []struct {
		name string
		mode ratelimit.HeaderMode
		rand float64
		d    []ratelimit.Decision
		want http.Header
	}{
		{"both on an admitted request", ratelimit.HeadersBoth, 0, []ratelimit.Decision{allowed}, http.Header{
			"Ratelimit-Policy":    {`"ip";q=10;w=60`},
			"Ratelimit":           {`"ip";r=9;t=6`},
			"Ratelimit-Limit":     {"10"},
			"Ratelimit-Remaining": {"9"},
			"Ratelimit-Reset":     {"6"},
		}},
		{"draft only", ratelimit.HeadersDraft, 0, []ratelimit.Decision{allowed}, http.Header{
			"Ratelimit-Policy": {`"ip";q=10;w=60`},
			"Ratelimit":        {`"ip";r=9;t=6`},
		}},
		{"legacy on a denial rounds the wait up, no jitter at rand 0", ratelimit.HeadersLegacy, 0, []ratelimit.Decision{denied}, http.Header{
			"Ratelimit-Limit":     {"10"},
			"Ratelimit-Remaining": {"0"},
			"Ratelimit-Reset":     {"60"},
			"Retry-After":         {"6"},
		}},
		{"jitter adds at most one second to a short wait", ratelimit.HeadersLegacy, 0.999, []ratelimit.Decision{denied}, http.Header{
			"Ratelimit-Limit":     {"10"},
			"Ratelimit-Remaining": {"0"},
			"Ratelimit-Reset":     {"60"},
			"Retry-After":         {"7"},
		}},
		{"ip then user appends draft items, legacy is the last", ratelimit.HeadersBoth, 0, []ratelimit.Decision{allowed, user}, http.Header{
			"Ratelimit-Policy":    {`"ip";q=10;w=60`, `"user";q=100;w=86400`},
			"Ratelimit":           {`"ip";r=9;t=6`, `"user";r=99;t=864`},
			"Ratelimit-Limit":     {"100"},
			"Ratelimit-Remaining": {"99"},
			"Ratelimit-Reset":     {"864"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newLimiter(t, ratelimit.Options{Headers: tt.mode, User: ratelimit.Policy{Limit: 100, Window: 24 * time.Hour}, Rand: func() float64 { return tt.rand }})
			h := http.Header{}
			for _, d := range tt.d {
				l.SetHeaders(h, d)
			}
			if !reflect.DeepEqual(h, tt.want) {
				t.Fatalf("headers\n got %v\nwant %v", h, tt.want)
			}
		})
	}
}

// TestSetHeadersLargeValues: remaining counts past the shared small values
// (RateLimit-Remaining is then cut from the RateLimit item) read as
// strconv writes them, in every mode, one decision after another.
func TestSetHeadersLargeValues(t *testing.T) {
	for _, mode := range []ratelimit.HeaderMode{ratelimit.HeadersBoth, ratelimit.HeadersLegacy, ratelimit.HeadersDraft} {
		l, _ := newLimiter(t, ratelimit.Options{Headers: mode, IP: ratelimit.Policy{Limit: 2_000_000, Window: 1000 * time.Second}})
		for _, remaining := range []int{1_999_999, 1_999_999, 255, 256, 12_345, 0, 1_000_000} {
			for _, reset := range []time.Duration{time.Second, 9 * time.Second, 10 * time.Second, 1000 * time.Second, 999_999 * time.Second} {
				d := ratelimit.Decision{Allowed: true, Limit: 2_000_000, Window: 1000 * time.Second, Remaining: remaining, ResetAfter: reset, Scope: "ip"}
				h := http.Header{}
				l.SetHeaders(h, d)
				secs := int64(reset / time.Second)
				want := http.Header{}
				if mode != ratelimit.HeadersLegacy {
					want["Ratelimit-Policy"] = []string{`"ip";q=2000000;w=1000`}
					want["Ratelimit"] = []string{fmt.Sprintf(`"ip";r=%d;t=%d`, remaining, secs)}
				}
				if mode != ratelimit.HeadersDraft {
					want["Ratelimit-Limit"] = []string{"2000000"}
					want["Ratelimit-Remaining"] = []string{strconv.Itoa(remaining)}
					want["Ratelimit-Reset"] = []string{strconv.FormatInt(secs, 10)}
				}
				if !reflect.DeepEqual(h, want) {
					t.Fatalf("%s, remaining %d, reset %v:\n got %v\nwant %v", mode, remaining, reset, h, want)
				}
			}
		}
	}
}

func TestRetryAfterIsNeverShorterThanTheWait(t *testing.T) {
	for _, r := range []float64{0, 0.25, 0.5, 0.999999} {
		l, _ := newLimiter(t, ratelimit.Options{Rand: func() float64 { return r }})
		for _, wait := range []time.Duration{time.Microsecond, time.Second, 1500 * time.Millisecond, 6 * time.Second, 95 * time.Second, time.Hour} {
			got := l.RetryAfterSeconds(ratelimit.Decision{Limit: 1, Window: time.Hour, RetryAfter: wait, ResetAfter: wait})
			min := int64((wait + time.Second - 1) / time.Second)
			max := min + max(1, min/10)
			if got < min || got > max {
				t.Errorf("rand %v wait %v: Retry-After %d not in [%d,%d]", r, wait, got, min, max)
			}
		}
	}
}

func TestRetryAfterHeaderMatchesTheNextRequest(t *testing.T) {
	l, clock := newLimiter(t, ratelimit.Options{Rand: func() float64 { return 0 }})
	ip := netip.MustParseAddr("192.0.2.1")
	exhaust(t, l, ip, 10)
	d, _ := l.AllowIP(context.Background(), ip)
	h := http.Header{}
	l.SetHeaders(h, d)
	if h.Get("Retry-After") != "6" {
		t.Fatalf("Retry-After %q", h.Get("Retry-After"))
	}
	clock.Advance(6 * time.Second)
	if d, _ := l.AllowIP(context.Background(), ip); !d.Allowed {
		t.Fatalf("request after Retry-After denied: %+v", d)
	}
}
