package users_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtgate/rtgate/internal/ratelimit"
	"github.com/rtgate/rtgate/internal/reqctx"
	"github.com/rtgate/rtgate/internal/users"
	"github.com/rtgate/rtgate/internal/users/userstest"
)

// fakeLimiter answers AllowUser with a fixed decision or error.
type fakeLimiter struct {
	d     ratelimit.Decision
	err   error
	calls int
}

func (f *fakeLimiter) AllowUser(context.Context, string) (ratelimit.Decision, error) {
	f.calls++
	return f.d, f.err
}

// downStore is a store that cannot answer.
type downStore struct{ *users.Memory }

func (downStore) Admit(context.Context, string, time.Time, users.Limits, string, time.Time) (users.Decision, error) {
	return users.Decision{}, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

func newAdmitting(t *testing.T, store users.Store, lim users.Limits, rl users.RateLimiter) (*users.Manager, *prometheus.Registry, *bytes.Buffer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	m, err := users.NewManager(users.Options{Store: store, Limits: lim, RateLimiter: rl, Retention: time.Hour,
		SafetyKey: []byte("safety-key"), Registerer: reg, Now: func() time.Time { return userstest.T0 }, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return m, reg, &logs
}

func reqCtx(t *testing.T) context.Context {
	return reqctx.With(t.Context(), &reqctx.Values{RequestID: "req-42"})
}

func TestAdmissionRefusals(t *testing.T) {
	t.Run("a blocked user is refused before anything is counted", func(t *testing.T) {
		m, reg, logs := newAdmitting(t, users.NewMemory(), users.Limits{}, &fakeLimiter{d: ratelimit.Decision{Allowed: true}})
		if _, err := m.Block(t.Context(), "mallory", "abuse"); err != nil {
			t.Fatal(err)
		}
		_, err := m.Admit(reqCtx(t), "mallory")
		var r *users.Refusal
		if !errors.As(err, &r) || r.Reason != users.ReasonBlocked || r.RetryAfter != 0 {
			t.Fatalf("%v", err)
		}
		if d, _ := m.Export(t.Context(), "mallory"); d.UsedToday != 0 || d.ActiveSessions != 0 {
			t.Errorf("a refused admission counted: %+v", d)
		}
		if n := testutil.ToFloat64(refusals(t, reg).WithLabelValues(users.ReasonBlocked)); n != 1 {
			t.Errorf("blocked refusals = %v", n)
		}
		if !strings.Contains(logs.String(), `"event":"blocked_user_refused"`) || !strings.Contains(logs.String(), `"request_id":"req-42"`) {
			t.Errorf("no audit line with the request id: %s", logs)
		}
	})
	t.Run("over a cap: the refusal says when to retry, at least a second", func(t *testing.T) {
		m, _, logs := newAdmitting(t, users.NewMemory(), users.Limits{MaxActive: 1}, nil)
		if _, err := m.Admit(t.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
		_, err := m.Admit(reqCtx(t), "alice")
		var r *users.Refusal
		if !errors.As(err, &r) || r.Reason != users.ReasonActiveSessions || r.RetryAfter < time.Second {
			t.Fatalf("%v", err)
		}
		if !strings.Contains(logs.String(), `"event":"quota_hit"`) {
			t.Errorf("no quota_hit line: %s", logs)
		}
	})
	t.Run("the daily quota", func(t *testing.T) {
		m, _, _ := newAdmitting(t, users.NewMemory(), users.Limits{DailyQuota: 1}, nil)
		if _, err := m.Admit(t.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
		_, err := m.Admit(t.Context(), "alice")
		var r *users.Refusal
		if !errors.As(err, &r) || r.Reason != users.ReasonDailyQuota || r.RetryAfter != 2*time.Hour {
			t.Fatalf("%v (want retry at the next UTC midnight, 2h after T0)", err)
		}
	})
	t.Run("the per-user rate limit: refused, decision kept for its headers, slot given back", func(t *testing.T) {
		rl := &fakeLimiter{d: ratelimit.Decision{Allowed: false, Limit: 5, RetryAfter: 7 * time.Second, Scope: ratelimit.ScopeUser}}
		m, reg, _ := newAdmitting(t, users.NewMemory(), users.Limits{MaxActive: 1, DailyQuota: 1}, rl)
		a, err := m.Admit(t.Context(), "alice")
		var r *users.Refusal
		if !errors.As(err, &r) || r.Reason != users.ReasonRateLimit || r.RetryAfter != 0 {
			t.Fatalf("%v", err)
		}
		if a.RateLimit == nil || a.RateLimit.RetryAfter != 7*time.Second || a.Reservation != "" {
			t.Fatalf("admission on a rate-limit refusal: %+v", a)
		}
		if d, _ := m.Export(t.Context(), "alice"); d.UsedToday != 0 || d.ActiveSessions != 0 {
			t.Errorf("the refused admission kept its slot or count: %+v", d)
		}
		if n := testutil.ToFloat64(refusals(t, reg).WithLabelValues(users.ReasonRateLimit)); n != 1 {
			t.Errorf("rate_limit refusals = %v", n)
		}
	})
	t.Run("a limiter that cannot decide fails closed and gives the slot back", func(t *testing.T) {
		m, _, _ := newAdmitting(t, users.NewMemory(), users.Limits{MaxActive: 1}, &fakeLimiter{err: ratelimit.ErrStoreUnavailable})
		if _, err := m.Admit(t.Context(), "alice"); !errors.Is(err, users.ErrUnavailable) {
			t.Fatalf("%v", err)
		}
		if d, _ := m.Export(t.Context(), "alice"); d.ActiveSessions != 0 {
			t.Errorf("slot kept: %+v", d)
		}
	})
	t.Run("a store that cannot answer fails closed", func(t *testing.T) {
		m, _, _ := newAdmitting(t, downStore{users.NewMemory()}, users.Limits{}, nil)
		if _, err := m.Admit(t.Context(), "alice"); !errors.Is(err, users.ErrUnavailable) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("admitted: the safety id and the decision", func(t *testing.T) {
		rl := &fakeLimiter{d: ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 4}}
		m, _, _ := newAdmitting(t, users.NewMemory(), users.Limits{}, rl)
		a, err := m.Admit(t.Context(), "alice")
		if err != nil || a.User != "alice" || a.Reservation == "" || a.RateLimit == nil || a.RateLimit.Remaining != 4 {
			t.Fatalf("%+v %v", a, err)
		}
		if a.SafetyID != users.SafetyID([]byte("safety-key"), "alice") {
			t.Errorf("safety id %q", a.SafetyID)
		}
	})
}

func refusals(t *testing.T, reg *prometheus.Registry) *prometheus.CounterVec {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x", Help: "x"}, []string{"reason"})
	for _, mf := range mfs {
		if mf.GetName() != "rtgate_user_refusals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			v.WithLabelValues(m.GetLabel()[0].GetValue()).Add(m.GetCounter().GetValue())
		}
		return v
	}
	t.Fatal("rtgate_user_refusals_total not registered")
	return nil
}

func TestSafetyIDIsAKeyedHashOfTheUser(t *testing.T) {
	a := users.SafetyID([]byte("k1"), "alice")
	if len(a) != 32 || strings.Contains(a, "alice") {
		t.Fatalf("%q", a)
	}
	if users.SafetyID([]byte("k1"), "alice") != a || users.SafetyID([]byte("k2"), "alice") == a || users.SafetyID([]byte("k1"), "bob") == a {
		t.Fatal("not stable per user and key")
	}
}

func TestEraseSaysWhatStayed(t *testing.T) {
	m, reg, _ := newAdmitting(t, users.NewMemory(), users.Limits{}, nil)
	self, err := m.Erase(t.Context(), "alice", users.ByUser)
	if err != nil || self.UserID != "alice" || self.Erased.Counters || self.Retained["usage_counters"] == "" || self.Retained["block"] == "" {
		t.Fatalf("self-service: %+v %v", self, err)
	}
	op, err := m.Erase(t.Context(), "alice", users.ByOperator)
	if err != nil || !op.Erased.Counters || op.Retained["usage_counters"] != "" || op.Retained["block"] == "" {
		t.Fatalf("operator: %+v %v", op, err)
	}
	mfs, _ := reg.Gather()
	var found bool
	for _, mf := range mfs {
		if mf.GetName() == "rtgate_user_data_erasures_total" {
			found = len(mf.GetMetric()) == 2
		}
	}
	if !found {
		t.Error("erasures not counted by who asked")
	}
}
