// Package userstest is the contract every users.Store must meet. Each
// backend's tests call Run with a constructor, in the manner of
// oauth2-proxy's RunSessionStoreTests. Stores never read a clock (the
// caller passes now), so the suite drives time itself.
package userstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/usage"
	"github.com/rtgate/rtgate/internal/users"
)

// NewStores returns two stores with no state that share one backend (for a
// memory store, the same instance twice; for Redis, two clients), so the
// suite can check that two instances see one count.
type NewStores func(t *testing.T) (a, b users.Store)

// T0 is the suite's starting instant: 22:00 UTC, two hours before a UTC
// midnight, and a date on which local time zones east of UTC are already in
// the next day.
var T0 = time.Date(2026, 3, 9, 22, 0, 0, 0, time.UTC)

const retention = 30 * 24 * time.Hour

// Run runs the contract.
func Run(t *testing.T, newStores NewStores) {
	ctx := context.Background()
	var seq atomic.Int64
	res := func() string { return fmt.Sprintf("res-%d", seq.Add(1)) }

	admit := func(t *testing.T, s users.Store, user string, now time.Time, lim users.Limits) (users.Decision, string) {
		t.Helper()
		r := res()
		d, err := s.Admit(ctx, user, now, lim, r, now.Add(time.Minute))
		if err != nil {
			t.Fatalf("Admit: %v", err)
		}
		return d, r
	}
	mustAdmit := func(t *testing.T, s users.Store, user string, now time.Time, lim users.Limits) string {
		t.Helper()
		d, r := admit(t, s, user, now, lim)
		if d.Outcome != users.Admitted {
			t.Fatalf("Admit(%s) = %v, want admitted", user, d.Outcome)
		}
		return r
	}
	record := func(user string, created time.Time, activeFor time.Duration) users.Record {
		return users.Record{UserID: user, SessionID: "sess_" + res(), Kind: "token", Model: "gpt-realtime",
			CreatedAt: created, ExpiresAt: created.Add(time.Minute), ActiveUntil: created.Add(activeFor), ClientNet: "203.0.113.0/24", ClientIPHash: "ab12"}
	}
	data := func(t *testing.T, s users.Store, user string, now time.Time) users.UserData {
		t.Helper()
		d, err := s.Data(ctx, user, now, retention)
		if err != nil {
			t.Fatalf("Data: %v", err)
		}
		return d
	}

	t.Run("admits up to the active cap and names when a slot frees", func(t *testing.T) {
		s, _ := newStores(t)
		lim := users.Limits{MaxActive: 2}
		r1 := mustAdmit(t, s, "alice", T0, lim)
		if err := s.Commit(ctx, "alice", r1, record("alice", T0, 10*time.Minute), T0, retention); err != nil {
			t.Fatal(err)
		}
		d := mustAdmitDecision(t, admit, s, "alice", T0.Add(time.Second), lim)
		if d.Active != 2 {
			t.Errorf("active = %d, want 2", d.Active)
		}
		d, _ = admit(t, s, "alice", T0.Add(2*time.Second), lim)
		if d.Outcome != users.OverActiveCap {
			t.Fatalf("third = %v, want active_sessions", d.Outcome)
		}
		// The earliest slot to free is the pending reservation taken at
		// T0+1s for one minute.
		if want := time.Minute - time.Second; d.RetryAfter != want {
			t.Errorf("RetryAfter = %v, want %v", d.RetryAfter, want)
		}
	})

	t.Run("a slot frees when its session is no longer active", func(t *testing.T) {
		s, _ := newStores(t)
		lim := users.Limits{MaxActive: 1}
		r := mustAdmit(t, s, "alice", T0, lim)
		if err := s.Commit(ctx, "alice", r, record("alice", T0, time.Hour), T0, retention); err != nil {
			t.Fatal(err)
		}
		if d, _ := admit(t, s, "alice", T0.Add(59*time.Minute), lim); d.Outcome != users.OverActiveCap {
			t.Fatalf("before the end: %v", d.Outcome)
		}
		mustAdmit(t, s, "alice", T0.Add(time.Hour), lim)
	})

	t.Run("commit extends the pending slot to the session's end", func(t *testing.T) {
		s, _ := newStores(t)
		lim := users.Limits{MaxActive: 1}
		r := mustAdmit(t, s, "alice", T0, lim)
		if err := s.Commit(ctx, "alice", r, record("alice", T0, 2*time.Hour), T0, retention); err != nil {
			t.Fatal(err)
		}
		// The reservation alone would have lapsed after a minute.
		if d, _ := admit(t, s, "alice", T0.Add(90*time.Minute), lim); d.Outcome != users.OverActiveCap {
			t.Fatalf("got %v, want active_sessions", d.Outcome)
		}
	})

	t.Run("an uncommitted reservation lapses", func(t *testing.T) {
		s, _ := newStores(t)
		lim := users.Limits{MaxActive: 1}
		mustAdmit(t, s, "alice", T0, lim)
		if d, _ := admit(t, s, "alice", T0.Add(59*time.Second), lim); d.Outcome != users.OverActiveCap {
			t.Fatalf("got %v", d.Outcome)
		}
		mustAdmit(t, s, "alice", T0.Add(time.Minute), lim)
	})

	t.Run("release frees the slot and refunds the quota, once", func(t *testing.T) {
		s, _ := newStores(t)
		lim := users.Limits{MaxActive: 1, DailyQuota: 1}
		r := mustAdmit(t, s, "alice", T0, lim)
		for range 2 {
			if err := s.Release(ctx, "alice", r, T0); err != nil {
				t.Fatal(err)
			}
		}
		d := mustAdmitDecision(t, admit, s, "alice", T0.Add(time.Second), lim)
		if d.UsedToday != 1 || d.Active != 1 {
			t.Errorf("after release: %+v", d)
		}
	})

	t.Run("end frees the slot of a session that ended early but keeps the quota and the record", func(t *testing.T) {
		s, _ := newStores(t)
		lim := users.Limits{MaxActive: 1, DailyQuota: 2}
		r := mustAdmit(t, s, "alice", T0, lim)
		if err := s.Commit(ctx, "alice", r, record("alice", T0, time.Hour), T0, retention); err != nil {
			t.Fatal(err)
		}
		if d, _ := admit(t, s, "alice", T0.Add(time.Second), lim); d.Outcome != users.OverActiveCap {
			t.Fatalf("before end: %v", d.Outcome)
		}
		for range 2 {
			if err := s.End(ctx, "alice", r); err != nil {
				t.Fatal(err)
			}
		}
		d := mustAdmitDecision(t, admit, s, "alice", T0.Add(2*time.Second), lim)
		if d.UsedToday != 2 || d.Active != 1 {
			t.Errorf("after end: %+v (the ended session must still count for the day)", d)
		}
		if got := data(t, s, "alice", T0.Add(3*time.Second)); len(got.Sessions) != 1 {
			t.Errorf("records after end: %d, want 1", len(got.Sessions))
		}
		if d, _ := admit(t, s, "alice", T0.Add(4*time.Second), lim); d.Outcome != users.OverDailyQuota {
			t.Errorf("third admission: %v, want daily_quota", d.Outcome)
		}
	})

	t.Run("the daily quota counts per UTC day", func(t *testing.T) {
		s, _ := newStores(t)
		lim := users.Limits{DailyQuota: 3}
		for i := range 3 {
			d := mustAdmitDecision(t, admit, s, "alice", T0.Add(time.Duration(i)*time.Minute), lim)
			if d.UsedToday != i+1 {
				t.Errorf("used = %d, want %d", d.UsedToday, i+1)
			}
		}
		now := T0.Add(time.Hour + 59*time.Minute) // 23:59 UTC
		d, _ := admit(t, s, "alice", now, lim)
		if d.Outcome != users.OverDailyQuota || d.RetryAfter != time.Minute {
			t.Fatalf("at 23:59: %v retry %v, want daily_quota retry 1m", d.Outcome, d.RetryAfter)
		}
		mustAdmit(t, s, "alice", T0.Add(2*time.Hour), lim) // 00:00 UTC next day
	})

	t.Run("the quota is reported before the active cap", func(t *testing.T) {
		s, _ := newStores(t)
		lim := users.Limits{MaxActive: 1, DailyQuota: 1}
		mustAdmit(t, s, "alice", T0, lim)
		if d, _ := admit(t, s, "alice", T0, lim); d.Outcome != users.OverDailyQuota {
			t.Fatalf("got %v, want daily_quota", d.Outcome)
		}
	})

	t.Run("zero limits admit everything", func(t *testing.T) {
		s, _ := newStores(t)
		for range 50 {
			mustAdmit(t, s, "alice", T0, users.Limits{})
		}
	})

	t.Run("users do not share counts", func(t *testing.T) {
		s, _ := newStores(t)
		lim := users.Limits{MaxActive: 1, DailyQuota: 1}
		mustAdmit(t, s, "alice", T0, lim)
		mustAdmit(t, s, "bob", T0, lim)
		mustAdmit(t, s, "alice:x", T0, lim)
		mustAdmit(t, s, "Alice", T0, lim)
	})

	t.Run("a blocked user is refused until unblocked, and the block survives erasure", func(t *testing.T) {
		s, _ := newStores(t)
		if err := s.SetBlock(ctx, "mallory", users.Block{Reason: "abuse", Since: T0}); err != nil {
			t.Fatal(err)
		}
		if d, _ := admit(t, s, "mallory", T0, users.Limits{}); d.Outcome != users.Blocked {
			t.Fatalf("got %v, want blocked", d.Outcome)
		}
		if _, err := s.Erase(ctx, "mallory", T0, true); err != nil {
			t.Fatal(err)
		}
		d := data(t, s, "mallory", T0)
		if d.Blocked == nil || d.Blocked.Reason != "abuse" || !d.Blocked.Since.Equal(T0) {
			t.Fatalf("block after erase: %+v", d.Blocked)
		}
		if ok, err := s.Unblock(ctx, "mallory"); err != nil || !ok {
			t.Fatalf("Unblock = %v, %v", ok, err)
		}
		if ok, err := s.Unblock(ctx, "mallory"); err != nil || ok {
			t.Fatalf("second Unblock = %v, %v; want false", ok, err)
		}
		mustAdmit(t, s, "mallory", T0, users.Limits{})
	})

	t.Run("data returns exactly the user's records, oldest first", func(t *testing.T) {
		s, _ := newStores(t)
		var want []users.Record
		for i := range 3 {
			at := T0.Add(time.Duration(2-i) * time.Minute) // committed newest first
			r := mustAdmit(t, s, "alice", at, users.Limits{})
			rec := record("alice", at, time.Hour)
			if err := s.Commit(ctx, "alice", r, rec, at, retention); err != nil {
				t.Fatal(err)
			}
			want = append([]users.Record{rec}, want...)
		}
		r := mustAdmit(t, s, "bob", T0, users.Limits{})
		if err := s.Commit(ctx, "bob", r, record("bob", T0, time.Hour), T0, retention); err != nil {
			t.Fatal(err)
		}
		d := data(t, s, "alice", T0.Add(3*time.Minute))
		if d.UserID != "alice" || len(d.Sessions) != 3 || d.ActiveSessions != 3 || d.UsedToday != 3 {
			t.Fatalf("data: %+v", d)
		}
		for i, got := range d.Sessions {
			if got.UserID != "alice" || got.SessionID != want[i].SessionID || !got.CreatedAt.Equal(want[i].CreatedAt) ||
				!got.ActiveUntil.Equal(want[i].ActiveUntil) || got.ClientNet != want[i].ClientNet || got.ClientIPHash != want[i].ClientIPHash {
				t.Errorf("record %d = %+v, want %+v", i, got, want[i])
			}
		}
		if e := data(t, s, "nobody", T0); e.UserID != "nobody" || len(e.Sessions) != 0 || e.Sessions == nil || e.Blocked != nil {
			t.Errorf("unknown user: %+v", e)
		}
	})

	t.Run("usage adds up per call record across instances, sums per user, and goes with the records", func(t *testing.T) {
		a, b := newStores(t)
		call := func(user string, at time.Time) users.Record {
			rec := record(user, at, time.Hour)
			rec.Kind, rec.SessionID, rec.UpstreamID = users.KindCall, "call_"+res(), "rtc_"+res()
			if err := a.Commit(ctx, user, mustAdmit(t, a, user, at, users.Limits{}), rec, at, retention); err != nil {
				t.Fatal(err)
			}
			return rec
		}
		addUsage := func(s users.Store, user, session string, d usage.Usage, now time.Time) {
			t.Helper()
			if err := s.AddUsage(ctx, user, session, d, now, retention); err != nil {
				t.Fatalf("AddUsage: %v", err)
			}
		}
		token := record("alice", T0, time.Hour)
		if err := a.Commit(ctx, "alice", mustAdmit(t, a, "alice", T0, users.Limits{}), token, T0, retention); err != nil {
			t.Fatal(err)
		}
		first, second := call("alice", T0.Add(time.Second)), call("alice", T0.Add(2*time.Second))
		bobs := call("bob", T0)
		d1 := usage.Usage{InputAudioTokens: 100, CachedAudioTokens: 10, OutputAudioTokens: 200, OutputTextTokens: 20, Responses: 1}
		d2 := usage.Usage{InputTextTokens: 5, InputImageTokens: 85, CachedTextTokens: 2, CachedImageTokens: 85, Responses: 1}
		d3 := usage.Usage{LiveMillis: 61_500}
		addUsage(a, "alice", first.SessionID, d1, T0.Add(time.Minute))
		addUsage(b, "alice", first.SessionID, d2, T0.Add(time.Minute))
		addUsage(b, "alice", second.SessionID, d3, T0.Add(time.Minute))
		addUsage(a, "alice", "call_never_recorded", d1, T0.Add(time.Minute))
		addUsage(a, "alice", bobs.SessionID, d1, T0.Add(time.Minute)) // bob's call, under alice
		addUsage(b, "alice", first.SessionID, usage.Usage{}, T0.Add(time.Minute))

		d := data(t, b, "alice", T0.Add(time.Minute))
		if len(d.Sessions) != 3 {
			t.Fatalf("records: %+v", d.Sessions)
		}
		want := map[string]usage.Usage{token.SessionID: {}, first.SessionID: d1.Add(d2), second.SessionID: d3}
		for _, r := range d.Sessions {
			if r.Usage != want[r.SessionID] {
				t.Errorf("usage of %s (%s) = %+v, want %+v", r.SessionID, r.Kind, r.Usage, want[r.SessionID])
			}
			if r.Kind == users.KindCall && r.UpstreamID == "" {
				t.Errorf("record %s lost its upstream id", r.SessionID)
			}
		}
		if total := d1.Add(d2).Add(d3); d.Usage != total {
			t.Errorf("user total %+v, want %+v", d.Usage, total)
		}
		if fu := d.ForUser(); fu.Sessions[1].UpstreamID != "" || d.Sessions[1].UpstreamID == "" || fu.Usage != d.Usage {
			t.Errorf("ForUser: %+v (and the original %+v)", fu.Sessions[1], d.Sessions[1])
		}
		if bob := data(t, a, "bob", T0.Add(time.Minute)); !bob.Usage.IsZero() || !bob.Sessions[0].Usage.IsZero() {
			t.Errorf("bob's record got alice's usage: %+v", bob)
		}
		if err := a.AddUsage(ctx, "", first.SessionID, d1, T0, retention); !errors.Is(err, users.ErrEmptyUser) {
			t.Errorf("AddUsage for the empty user: %v", err)
		}

		// Past retention, a record and its usage are gone from the sum.
		if d := data(t, a, "alice", T0.Add(retention+1500*time.Millisecond)); len(d.Sessions) != 1 || d.Usage != d3 {
			t.Errorf("past the first call's retention: %d records, usage %+v", len(d.Sessions), d.Usage)
		}

		// Erasure takes the usage with the records: a record of the same
		// session kept again starts from nothing.
		if _, err := b.Erase(ctx, "alice", T0.Add(time.Minute), false); err != nil {
			t.Fatal(err)
		}
		if err := a.Commit(ctx, "alice", mustAdmit(t, a, "alice", T0.Add(time.Minute), users.Limits{}), second, T0.Add(time.Minute), retention); err != nil {
			t.Fatal(err)
		}
		if d := data(t, a, "alice", T0.Add(time.Minute)); len(d.Sessions) != 1 || !d.Usage.IsZero() {
			t.Errorf("after erasure: %+v", d)
		}
	})

	t.Run("records past retention are gone", func(t *testing.T) {
		s, _ := newStores(t)
		r := mustAdmit(t, s, "alice", T0, users.Limits{})
		if err := s.Commit(ctx, "alice", r, record("alice", T0, time.Hour), T0, retention); err != nil {
			t.Fatal(err)
		}
		if d := data(t, s, "alice", T0.Add(retention)); len(d.Sessions) != 1 {
			t.Fatalf("at the retention limit: %d records, want 1", len(d.Sessions))
		}
		if d := data(t, s, "alice", T0.Add(retention+time.Second)); len(d.Sessions) != 0 {
			t.Fatalf("past retention: %d records, want 0", len(d.Sessions))
		}
	})

	t.Run("user erasure deletes records but keeps the counters", func(t *testing.T) {
		s, _ := newStores(t)
		lim := users.Limits{MaxActive: 5, DailyQuota: 2}
		for range 2 {
			r := mustAdmit(t, s, "alice", T0, lim)
			if err := s.Commit(ctx, "alice", r, record("alice", T0, time.Hour), T0, retention); err != nil {
				t.Fatal(err)
			}
		}
		e, err := s.Erase(ctx, "alice", T0, false)
		if err != nil || e.Sessions != 2 || e.Counters {
			t.Fatalf("Erase = %+v, %v", e, err)
		}
		if d := data(t, s, "alice", T0); len(d.Sessions) != 0 || d.UsedToday != 2 || d.ActiveSessions != 2 {
			t.Fatalf("after erase: %+v", d)
		}
		if d, _ := admit(t, s, "alice", T0, lim); d.Outcome != users.OverDailyQuota {
			t.Fatalf("erasure reset the quota: %v", d.Outcome)
		}
		e, err = s.Erase(ctx, "alice", T0, false)
		if err != nil || e.Sessions != 0 {
			t.Fatalf("second Erase = %+v, %v", e, err)
		}
	})

	t.Run("operator erasure resets the counters too", func(t *testing.T) {
		s, _ := newStores(t)
		lim := users.Limits{MaxActive: 1, DailyQuota: 1}
		r := mustAdmit(t, s, "alice", T0, lim)
		if err := s.Commit(ctx, "alice", r, record("alice", T0, time.Hour), T0, retention); err != nil {
			t.Fatal(err)
		}
		if e, err := s.Erase(ctx, "alice", T0, true); err != nil || e.Sessions != 1 || !e.Counters {
			t.Fatalf("Erase = %+v, %v", e, err)
		}
		if d := data(t, s, "alice", T0); len(d.Sessions) != 0 || d.UsedToday != 0 || d.ActiveSessions != 0 {
			t.Fatalf("after erase: %+v", d)
		}
		mustAdmit(t, s, "alice", T0, lim)
	})

	t.Run("two instances share one count", func(t *testing.T) {
		a, b := newStores(t)
		lim := users.Limits{MaxActive: 2, DailyQuota: 3}
		mustAdmit(t, a, "alice", T0, lim)
		mustAdmit(t, b, "alice", T0, lim)
		if d, _ := admit(t, a, "alice", T0, lim); d.Outcome != users.OverActiveCap {
			t.Fatalf("got %v, want active_sessions", d.Outcome)
		}
		mustAdmit(t, b, "alice", T0.Add(time.Minute), lim)
		if d, _ := admit(t, a, "alice", T0.Add(2*time.Minute), lim); d.Outcome != users.OverDailyQuota {
			t.Fatalf("got %v, want daily_quota", d.Outcome)
		}
		if err := a.SetBlock(ctx, "alice", users.Block{Since: T0}); err != nil {
			t.Fatal(err)
		}
		if d, _ := admit(t, b, "alice", T0.Add(3*time.Minute), lim); d.Outcome != users.Blocked {
			t.Fatalf("block not shared: %v", d.Outcome)
		}
	})

	t.Run("concurrent admissions on two instances never exceed the cap", func(t *testing.T) {
		a, b := newStores(t)
		const cap = 7
		lim := users.Limits{MaxActive: cap}
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for i := range 40 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				d, err := s.Admit(ctx, "alice", T0, lim, res(), T0.Add(time.Minute))
				if err != nil {
					t.Error(err)
					return
				}
				if d.Outcome == users.Admitted {
					admitted.Add(1)
				}
			})
		}
		wg.Wait()
		if n := admitted.Load(); n != cap {
			t.Fatalf("admitted %d, want exactly %d", n, cap)
		}
	})

	t.Run("the empty user id is an error", func(t *testing.T) {
		s, _ := newStores(t)
		if _, err := s.Admit(ctx, "", T0, users.Limits{}, res(), T0); err == nil {
			t.Error("Admit accepted the empty user")
		}
		if _, err := s.Data(ctx, "", T0, retention); err == nil {
			t.Error("Data accepted the empty user")
		}
		if _, err := s.Erase(ctx, "", T0, true); err == nil {
			t.Error("Erase accepted the empty user")
		}
	})
}

func mustAdmitDecision(t *testing.T, admit func(*testing.T, users.Store, string, time.Time, users.Limits) (users.Decision, string), s users.Store, user string, now time.Time, lim users.Limits) users.Decision {
	t.Helper()
	d, _ := admit(t, s, user, now, lim)
	if d.Outcome != users.Admitted {
		t.Fatalf("Admit(%s) = %v, want admitted", user, d.Outcome)
	}
	return d
}
