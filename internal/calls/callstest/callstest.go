// Package callstest is the contract every calls.Store must meet, and a
// manual clock for code built on the calls package. Each backend's tests
// call Run with a constructor, in the manner of oauth2-proxy's
// RunSessionStoreTests:
//
//	callstest.Run(t, func(t *testing.T) (calls.Store, calls.Store) {
//		m := calls.NewMemory()
//		return m, m
//	})
//
// Stores never read a clock (the caller passes now), so the suite drives
// time itself.
package callstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/usage"
)

// NewStores returns two stores with no state that share one backend (for a
// memory store, the same instance twice; for Redis, two clients), standing
// for two instances.
type NewStores func(t *testing.T) (a, b calls.Store)

// T0 is the suite's starting instant.
var T0 = time.Date(2026, 3, 9, 22, 0, 0, 0, time.UTC)

var idSeq atomic.Int64

// NewID returns a fresh id of the shape of a call id, unique in the process.
func NewID() string { return fmt.Sprintf("call_%022d", idSeq.Add(1)) }

// NewCall returns a complete call owned by instance, with a fresh id,
// created at T0.
func NewCall(user, instance string, deadline time.Time) calls.Call {
	c := calls.Call{
		ID: NewID(), Kind: calls.KindRealtime, UpstreamID: "rtc_" + fmt.Sprint(idSeq.Add(1)), User: user,
		Reservation: "1773093600000.00ff", Model: "gpt-realtime", CreatedAt: T0, Deadline: deadline, Instance: instance,
	}
	if user == "" {
		c.Kind, c.TokenHash = calls.KindLive, calls.HashToken("token-"+c.ID)
	}
	return c
}

// Same fails t unless got and want are the same call (times compared as
// instants).
func Same(t testing.TB, got, want calls.Call) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.Deadline.Equal(want.Deadline) {
		t.Fatalf("times: got %v / %v, want %v / %v", got.CreatedAt, got.Deadline, want.CreatedAt, want.Deadline)
	}
	got.CreatedAt, got.Deadline = want.CreatedAt, want.Deadline
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// Run runs the contract.
func Run(t *testing.T, newStores NewStores) {
	ctx := context.Background()
	add := func(t *testing.T, s calls.Store, c calls.Call) calls.Call {
		t.Helper()
		if err := s.Add(ctx, c, T0); err != nil {
			t.Fatalf("Add(%s): %v", c.ID, err)
		}
		return c
	}
	ids := func(cs []calls.Call) []string {
		out := make([]string, 0, len(cs))
		for _, c := range cs {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	claimedIDs := func(cs []calls.Claimed) []string {
		out := make([]string, 0, len(cs))
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	claimDue := func(t *testing.T, s calls.Store, holder string, now time.Time, lease time.Duration, max int) []calls.Claimed {
		t.Helper()
		cs, err := s.ClaimDue(ctx, holder, now, now.Add(lease), max)
		if err != nil {
			t.Fatalf("ClaimDue: %v", err)
		}
		return cs
	}
	heartbeat := func(t *testing.T, s calls.Store, instance string, until time.Time) {
		t.Helper()
		if err := s.Heartbeat(ctx, instance, until, T0); err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
	}
	adopt := func(t *testing.T, s calls.Store, instance string, now time.Time, max int) []calls.Call {
		t.Helper()
		cs, err := s.Adopt(ctx, instance, now, max)
		if err != nil {
			t.Fatalf("Adopt: %v", err)
		}
		return cs
	}
	wantErr := func(t *testing.T, what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", what, err, want)
		}
	}

	t.Run("a call added on one instance is found on the other, every field kept", func(t *testing.T) {
		a, b := newStores(t)
		for _, user := range []string{"alice@example.com", ""} {
			c := NewCall(user, "inst-a", T0.Add(time.Hour))
			c.CreatedAt = T0.Add(123456789 * time.Nanosecond)
			add(t, a, c)
			got, err := b.Get(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			Same(t, got, c)
		}
	})

	t.Run("an id is added once", func(t *testing.T) {
		a, b := newStores(t)
		c := add(t, a, NewCall("alice", "inst-a", T0.Add(time.Hour)))
		dup := NewCall("mallory", "inst-b", T0.Add(2*time.Hour))
		dup.ID = c.ID
		wantErr(t, "second Add", b.Add(ctx, dup, T0), calls.ErrExists)
		got, err := a.Get(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		Same(t, got, c)
		if cs, _ := b.ByUser(ctx, "mallory"); len(cs) != 0 {
			t.Fatalf("the refused Add left %v in the user index", ids(cs))
		}
	})

	t.Run("an unknown id is not found", func(t *testing.T) {
		a, _ := newStores(t)
		_, err := a.Get(ctx, NewID())
		wantErr(t, "Get", err, calls.ErrNotFound)
		_, err = a.Remove(ctx, NewID())
		wantErr(t, "Remove", err, calls.ErrNotFound)
		_, err = a.Claim(ctx, NewID(), "h1", calls.ReasonHangup, T0, T0.Add(time.Minute))
		wantErr(t, "Claim", err, calls.ErrNotFound)
		_, err = a.AddUsage(ctx, NewID(), usage.Usage{Responses: 1})
		wantErr(t, "AddUsage", err, calls.ErrNotFound)
		wantErr(t, "Release", a.Release(ctx, NewID(), "h1", T0, T0), calls.ErrNotFound)
	})

	t.Run("usage adds up across instances, keeps every other field, and survives claims and adoption", func(t *testing.T) {
		a, b := newStores(t)
		// The odd user id exercises JSON and Lua string escapes.
		for _, user := range []string{"alice/ü \"quoted\" <&> \\", ""} {
			c := add(t, a, NewCall(user, "inst-a", T0.Add(time.Hour)))
			d1 := usage.Usage{InputAudioTokens: 120, CachedAudioTokens: 20, OutputAudioTokens: 240, OutputTextTokens: 24, Responses: 1}
			d2 := usage.Usage{InputTextTokens: 7, InputImageTokens: 85, CachedTextTokens: 3, CachedImageTokens: 1, Responses: 1, LiveMillis: 1_234_567_890_123}
			got, err := b.AddUsage(ctx, c.ID, d1)
			if err != nil {
				t.Fatal(err)
			}
			want := c
			want.Usage = d1
			Same(t, got, want)
			if got, err = a.AddUsage(ctx, c.ID, d2); err != nil {
				t.Fatal(err)
			}
			want.Usage = d1.Add(d2)
			Same(t, got, want)
			if got, err = a.AddUsage(ctx, c.ID, usage.Usage{}); err != nil {
				t.Fatal(err)
			}
			Same(t, got, want)
			if _, err := a.Claim(ctx, c.ID, "h1", calls.ReasonHangup, T0, T0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			wantAdopted := want
			wantAdopted.Instance = "inst-b"
			if got := adopt(t, b, "inst-b", T0.Add(time.Hour), 10); len(got) != 1 {
				t.Fatalf("adopted %d calls, want 1", len(got))
			} else {
				Same(t, got[0], wantAdopted)
			}
			if got, err = a.Get(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			Same(t, got, wantAdopted)
			if got, err = b.Remove(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			Same(t, got, wantAdopted)
			_, err = a.AddUsage(ctx, c.ID, d1)
			wantErr(t, "AddUsage of a removed call", err, calls.ErrNotFound)
		}
	})

	t.Run("concurrent usage on two instances is all counted", func(t *testing.T) {
		a, b := newStores(t)
		c := add(t, a, NewCall("alice", "inst-a", T0.Add(time.Hour)))
		var wg sync.WaitGroup
		for i := range 40 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				if _, err := s.AddUsage(ctx, c.ID, usage.Usage{OutputAudioTokens: 3, Responses: 1}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, err := b.Get(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Usage != (usage.Usage{OutputAudioTokens: 120, Responses: 40}) {
			t.Fatalf("usage %+v after 40 concurrent adds", got.Usage)
		}
	})

	t.Run("remove returns the call once and forgets it everywhere", func(t *testing.T) {
		a, b := newStores(t)
		c := add(t, a, NewCall("alice", "inst-a", T0.Add(time.Minute)))
		keep := add(t, a, NewCall("alice", "inst-a", T0.Add(time.Minute)))
		got, err := b.Remove(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		Same(t, got, c)
		_, err = a.Remove(ctx, c.ID)
		wantErr(t, "second Remove", err, calls.ErrNotFound)
		_, err = a.Get(ctx, c.ID)
		wantErr(t, "Get", err, calls.ErrNotFound)
		if cs, _ := a.ByUser(ctx, "alice"); !slices.Equal(ids(cs), []string{keep.ID}) {
			t.Fatalf("ByUser after remove: %v", ids(cs))
		}
		if n, _ := a.Count(ctx); n != 1 {
			t.Fatalf("Count = %d, want 1", n)
		}
		if due := claimDue(t, a, "h1", T0.Add(time.Hour), time.Minute, 10); !slices.Equal(claimedIDs(due), []string{keep.ID}) {
			t.Fatalf("ClaimDue after remove: %v", claimedIDs(due))
		}
		if got := adopt(t, b, "inst-b", T0.Add(time.Hour), 10); !slices.Equal(ids(got), []string{keep.ID}) {
			t.Fatalf("Adopt after remove: %v", ids(got))
		}
	})

	t.Run("by user lists exactly the user's calls, and anonymous calls belong to nobody", func(t *testing.T) {
		a, b := newStores(t)
		var alice []string
		for range 2 {
			alice = append(alice, add(t, a, NewCall("alice", "inst-a", T0.Add(time.Hour))).ID)
		}
		alice = append(alice, add(t, b, NewCall("alice", "inst-b", T0.Add(time.Hour))).ID)
		slices.Sort(alice)
		for _, other := range []string{"bob", "alice:x", "Alice", "alic", "alice "} {
			add(t, a, NewCall(other, "inst-a", T0.Add(time.Hour)))
		}
		add(t, a, NewCall("", "inst-a", T0.Add(time.Hour)))
		for _, s := range []calls.Store{a, b} {
			cs, err := s.ByUser(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(cs), alice) {
				t.Fatalf("ByUser(alice) = %v, want %v", ids(cs), alice)
			}
		}
		for _, user := range []string{"", "nobody"} {
			if cs, err := a.ByUser(ctx, user); err != nil || len(cs) != 0 {
				t.Fatalf("ByUser(%q) = %v, %v; want none", user, ids(cs), err)
			}
		}
		if n, _ := b.Count(ctx); n != 9 {
			t.Fatalf("Count = %d, want 9", n)
		}
	})

	t.Run("due calls are claimed earliest first, at most max at a time, a deadline at now included", func(t *testing.T) {
		a, b := newStores(t)
		var want []string
		for _, d := range []time.Duration{3 * time.Minute, time.Minute, 2 * time.Minute} {
			c := add(t, a, NewCall("alice", "inst-a", T0.Add(d)))
			want = append(want, c.ID)
		}
		want = []string{want[1], want[2], want[0]}
		later := add(t, a, NewCall("alice", "inst-a", T0.Add(3*time.Minute+time.Millisecond)))
		now := T0.Add(3 * time.Minute)
		first := claimDue(t, b, "h1", now, time.Minute, 2)
		second := claimDue(t, a, "h2", now, time.Minute, 2)
		if got := append(claimedIDs(first), claimedIDs(second)...); !slices.Equal(got, want) {
			t.Fatalf("claimed %v, want %v", got, want)
		}
		for _, c := range first {
			if c.Reason != "" {
				t.Fatalf("first claim reports reason %q", c.Reason)
			}
		}
		if got := claimDue(t, b, "h3", now, time.Minute, 10); len(got) != 0 {
			t.Fatalf("claimed again: %v", claimedIDs(got))
		}
		if got := claimDue(t, b, "h3", now.Add(time.Millisecond), time.Minute, 10); !slices.Equal(claimedIDs(got), []string{later.ID}) {
			t.Fatalf("a millisecond later: %v, want %s", claimedIDs(got), later.ID)
		}
	})

	t.Run("a claim lapses at its until, and the next claimer sees its reason", func(t *testing.T) {
		a, b := newStores(t)
		c := add(t, a, NewCall("alice", "inst-a", T0.Add(time.Hour)))
		if _, err := a.Claim(ctx, c.ID, "h1", calls.ReasonHangup, T0, T0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		_, err := b.Claim(ctx, c.ID, "h2", calls.ReasonOperator, T0.Add(59*time.Second), T0.Add(2*time.Minute))
		wantErr(t, "Claim while held", err, calls.ErrClaimed)
		if got := claimDue(t, b, "h2", T0.Add(time.Minute-time.Millisecond), time.Minute, 10); len(got) != 0 {
			t.Fatalf("due while claimed: %v", claimedIDs(got))
		}
		// The claimer died: at its until the call is due, before its deadline.
		got := claimDue(t, b, "h2", T0.Add(time.Minute), time.Minute, 10)
		if len(got) != 1 || got[0].ID != c.ID || got[0].Reason != calls.ReasonHangup {
			t.Fatalf("after the lease: %+v, want %s with reason hangup", got, c.ID)
		}
		_, err = a.Claim(ctx, c.ID, "h3", calls.ReasonOperator, T0.Add(90*time.Second), T0.Add(3*time.Minute))
		wantErr(t, "Claim while the sweeper holds it", err, calls.ErrClaimed)
		if _, err := a.Claim(ctx, c.ID, "h3", calls.ReasonOperator, T0.Add(2*time.Minute), T0.Add(3*time.Minute)); err != nil {
			t.Fatalf("Claim after the sweeper's lease: %v", err)
		}
	})

	t.Run("release makes a call due at its retry time with its reason, and claimable at once", func(t *testing.T) {
		a, b := newStores(t)
		c := add(t, a, NewCall("alice", "inst-a", T0.Add(5*time.Minute)))
		if _, err := a.Claim(ctx, c.ID, "h1", calls.ReasonOperator, T0, T0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := b.Release(ctx, c.ID, "h1", T0.Add(10*time.Minute), T0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		got, err := b.Get(ctx, c.ID)
		if err != nil {
			t.Fatalf("released call: %v", err)
		}
		Same(t, got, c)
		if due := claimDue(t, a, "h2", T0.Add(10*time.Minute-time.Millisecond), time.Minute, 10); len(due) != 0 {
			t.Fatalf("due before its retry time (deadline passed): %v", claimedIDs(due))
		}
		due := claimDue(t, a, "h2", T0.Add(10*time.Minute), time.Minute, 10)
		if len(due) != 1 || due[0].ID != c.ID || due[0].Reason != calls.ReasonOperator {
			t.Fatalf("at the retry time: %+v", due)
		}

		d := add(t, a, NewCall("alice", "inst-a", T0.Add(5*time.Minute)))
		if _, err := a.Claim(ctx, d.ID, "h1", calls.ReasonHangup, T0, T0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := a.Release(ctx, d.ID, "h1", T0.Add(5*time.Minute), T0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Claim(ctx, d.ID, "h2", calls.ReasonHangup, T0.Add(2*time.Second), T0.Add(time.Minute)); err != nil {
			t.Fatalf("an owner's retry right after a release: %v", err)
		}
	})

	t.Run("only the last claim's holder can release", func(t *testing.T) {
		a, b := newStores(t)
		c := add(t, a, NewCall("alice", "inst-a", T0))
		if _, err := a.Claim(ctx, c.ID, "h1", calls.ReasonHangup, T0, T0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "Release by a stranger", b.Release(ctx, c.ID, "h9", T0.Add(time.Hour), T0), calls.ErrClaimed)
		// h1's lease lapses and h2 takes over.
		if due := claimDue(t, b, "h2", T0.Add(time.Minute), time.Minute, 10); len(due) != 1 {
			t.Fatalf("takeover: %v", claimedIDs(due))
		}
		wantErr(t, "Release by the lapsed holder", a.Release(ctx, c.ID, "h1", T0.Add(time.Hour), T0.Add(time.Minute)), calls.ErrClaimed)
		if err := b.Release(ctx, c.ID, "h2", T0.Add(time.Hour), T0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "second Release", b.Release(ctx, c.ID, "h2", T0.Add(time.Hour), T0.Add(time.Minute)), calls.ErrClaimed)
		if due := claimDue(t, a, "h3", T0.Add(59*time.Minute), time.Minute, 10); len(due) != 0 {
			t.Fatalf("the lapsed holder's release moved the retry time: %v", claimedIDs(due))
		}
	})

	t.Run("a live instance keeps its calls; a lapsed one's go to the adopter", func(t *testing.T) {
		a, b := newStores(t)
		heartbeat(t, a, "inst-a", T0.Add(10*time.Second))
		heartbeat(t, b, "inst-b", T0.Add(time.Hour))
		var mine []calls.Call
		for range 3 {
			mine = append(mine, add(t, a, NewCall("alice", "inst-a", T0.Add(time.Hour))))
		}
		if got := adopt(t, b, "inst-b", T0.Add(10*time.Second-time.Millisecond), 10); len(got) != 0 {
			t.Fatalf("adopted from a live instance: %v", ids(got))
		}
		got := adopt(t, b, "inst-b", T0.Add(10*time.Second), 10)
		if !slices.Equal(ids(got), ids(mine)) {
			t.Fatalf("adopted %v, want %v", ids(got), ids(mine))
		}
		for i, c := range got {
			if c.Instance != "inst-b" {
				t.Fatalf("adopted call %d owned by %q", i, c.Instance)
			}
			stored, err := a.Get(ctx, c.ID)
			if err != nil || stored.Instance != "inst-b" {
				t.Fatalf("stored owner after adoption: %q, %v", stored.Instance, err)
			}
		}
		if got := adopt(t, a, "inst-c", T0.Add(11*time.Second), 10); len(got) != 0 {
			t.Fatalf("adopted twice: %v", ids(got))
		}
	})

	t.Run("a heartbeat renews an instance's liveness", func(t *testing.T) {
		a, b := newStores(t)
		heartbeat(t, a, "inst-a", T0.Add(10*time.Second))
		add(t, a, NewCall("alice", "inst-a", T0.Add(time.Hour)))
		heartbeat(t, a, "inst-a", T0.Add(20*time.Second))
		if got := adopt(t, b, "inst-b", T0.Add(15*time.Second), 10); len(got) != 0 {
			t.Fatalf("adopted from a renewed instance: %v", ids(got))
		}
		if got := adopt(t, b, "inst-b", T0.Add(20*time.Second), 10); len(got) != 1 {
			t.Fatalf("after the renewal lapsed: %v", ids(got))
		}
	})

	t.Run("an instance that never heartbeated counts as lapsed, adopter included", func(t *testing.T) {
		a, b := newStores(t)
		c := add(t, a, NewCall("", "inst-x", T0.Add(time.Hour)))
		if got := adopt(t, b, "inst-y", T0, 10); !slices.Equal(ids(got), []string{c.ID}) {
			t.Fatalf("adopted %v, want %s", ids(got), c.ID)
		}
		if got := adopt(t, a, "inst-z", T0, 10); !slices.Equal(ids(got), []string{c.ID}) {
			t.Fatalf("from the silent adopter: %v, want %s", ids(got), c.ID)
		}
	})

	t.Run("adopt takes at most max, never the adopter's own calls, and keeps claims", func(t *testing.T) {
		a, b := newStores(t)
		heartbeat(t, a, "inst-a", T0.Add(time.Second))
		heartbeat(t, b, "inst-b", T0.Add(time.Hour))
		var all []calls.Call
		for range 5 {
			all = append(all, add(t, a, NewCall("alice", "inst-a", T0.Add(time.Hour))))
		}
		if _, err := a.Claim(ctx, all[0].ID, "h1", calls.ReasonHangup, T0, T0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		now := T0.Add(2 * time.Second)
		if got := adopt(t, a, "inst-a", now, 10); len(got) != 0 {
			t.Fatalf("a lapsed instance adopted its own calls: %v", ids(got))
		}
		first := adopt(t, b, "inst-b", now, 3)
		second := adopt(t, b, "inst-b", now, 3)
		if len(first) != 3 || len(second) != 2 {
			t.Fatalf("adopted %d then %d, want 3 then 2", len(first), len(second))
		}
		if got := append(ids(first), ids(second)...); !slices.Equal(ids(all), sortedCopy(got)) {
			t.Fatalf("adopted %v, want %v", got, ids(all))
		}
		_, err := b.Claim(ctx, all[0].ID, "h2", calls.ReasonOperator, now, now.Add(time.Minute))
		wantErr(t, "Claim of an adopted claimed call", err, calls.ErrClaimed)
	})

	t.Run("invalid arguments are refused", func(t *testing.T) {
		a, _ := newStores(t)
		c := add(t, a, NewCall("alice", "inst-a", T0.Add(time.Hour)))
		call := func(mod func(*calls.Call)) calls.Call {
			x := NewCall("alice", "inst-a", T0.Add(time.Hour))
			mod(&x)
			return x
		}
		for _, tc := range []struct {
			name string
			err  error
		}{
			{"empty id", a.Add(ctx, call(func(c *calls.Call) { c.ID = "" }), T0)},
			{"id over 256 bytes", a.Add(ctx, call(func(c *calls.Call) { c.ID = string(make([]byte, 257)) }), T0)},
			{"empty instance", a.Add(ctx, call(func(c *calls.Call) { c.Instance = "" }), T0)},
			{"instance with a colon", a.Add(ctx, call(func(c *calls.Call) { c.Instance = "a:b" }), T0)},
			{"instance with a space", a.Add(ctx, call(func(c *calls.Call) { c.Instance = "a b" }), T0)},
			{"instance of 65 characters", a.Add(ctx, call(func(c *calls.Call) { c.Instance = fmt.Sprintf("%065d", 0) }), T0)},
			{"no deadline", a.Add(ctx, call(func(c *calls.Call) { c.Deadline = time.Time{} }), T0)},
			{"empty holder", claimErr(a.Claim(ctx, c.ID, "", calls.ReasonHangup, T0, T0.Add(time.Minute)))},
			{"holder '-'", claimErr(a.Claim(ctx, c.ID, "-", calls.ReasonHangup, T0, T0.Add(time.Minute)))},
			{"holder with a space", claimErr(a.Claim(ctx, c.ID, "h 1", calls.ReasonHangup, T0, T0.Add(time.Minute)))},
			{"reason with capitals", claimErr(a.Claim(ctx, c.ID, "h1", "Hangup", T0, T0.Add(time.Minute)))},
			{"reason with a space", claimErr(a.Claim(ctx, c.ID, "h1", "hang up", T0, T0.Add(time.Minute)))},
			{"claim until now", claimErr(a.Claim(ctx, c.ID, "h1", calls.ReasonHangup, T0, T0))},
			{"due claim until before now", dueErr(a.ClaimDue(ctx, "h1", T0, T0.Add(-time.Second), 1))},
			{"due claim of 0", dueErr(a.ClaimDue(ctx, "h1", T0, T0.Add(time.Second), 0))},
			{"release by holder '-'", a.Release(ctx, c.ID, "-", T0, T0)},
			{"heartbeat of instance with a newline", a.Heartbeat(ctx, "a\nb", T0, T0)},
			{"adopt by an empty instance", adoptErr(a.Adopt(ctx, "", T0, 1))},
			{"adopt of 0", adoptErr(a.Adopt(ctx, "inst-b", T0, 0))},
		} {
			if !errors.Is(tc.err, calls.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", tc.name, tc.err)
			}
		}
		if n, _ := a.Count(ctx); n != 1 {
			t.Fatalf("invalid adds changed the count: %d", n)
		}
		if _, err := a.Claim(ctx, c.ID, "h1", calls.ReasonHangup, T0, T0.Add(time.Minute)); err != nil {
			t.Fatalf("the refused claims held the call: %v", err)
		}
	})

	// Races: many goroutines, alternately on the two instances, contend for
	// the same calls; every call goes to exactly one of them.
	const racers = 16
	for _, tc := range []struct {
		name  string
		calls int // added first, owned by "inst-dead", due at T0
		want  int // calls won in total; each exactly once
		setup func(t *testing.T, s calls.Store)
		race  func(s calls.Store, i int, ids []string) ([]string, error)
	}{
		{
			name: "concurrent removes of one call: exactly one gets it", calls: 1, want: 1,
			race: func(s calls.Store, _ int, ids []string) ([]string, error) {
				c, err := s.Remove(ctx, ids[0])
				if errors.Is(err, calls.ErrNotFound) {
					return nil, nil
				}
				return []string{c.ID}, err
			},
		},
		{
			name: "concurrent claims of one call: exactly one holds it", calls: 1, want: 1,
			race: func(s calls.Store, i int, ids []string) ([]string, error) {
				c, err := s.Claim(ctx, ids[0], fmt.Sprintf("h%d", i), calls.ReasonHangup, T0, T0.Add(time.Minute))
				if errors.Is(err, calls.ErrClaimed) {
					return nil, nil
				}
				return []string{c.ID}, err
			},
		},
		{
			name: "concurrent adds of one id: exactly one succeeds", want: 1,
			race: func(s calls.Store, i int, _ []string) ([]string, error) {
				c := NewCall(fmt.Sprintf("user-%d", i), "inst-a", T0.Add(time.Hour))
				c.ID = "call_race"
				err := s.Add(ctx, c, T0)
				if errors.Is(err, calls.ErrExists) {
					return nil, nil
				}
				return []string{c.ID}, err
			},
		},
		{
			name: "concurrent sweeps over 40 due calls: each is claimed exactly once", calls: 40, want: 40,
			race: func(s calls.Store, i int, _ []string) ([]string, error) {
				var won []string
				for {
					due, err := s.ClaimDue(ctx, fmt.Sprintf("h%d", i), T0.Add(time.Minute), T0.Add(2*time.Minute), 3)
					if err != nil || len(due) == 0 {
						return won, err
					}
					won = append(won, claimedIDs(due)...)
				}
			},
		},
		{
			name: "concurrent adoptions of 40 calls: each is adopted exactly once", calls: 40, want: 40,
			setup: func(t *testing.T, s calls.Store) {
				for i := range racers {
					heartbeat(t, s, fmt.Sprintf("inst-%d", i), T0.Add(time.Hour))
				}
			},
			race: func(s calls.Store, i int, _ []string) ([]string, error) {
				var won []string
				for {
					got, err := s.Adopt(ctx, fmt.Sprintf("inst-%d", i), T0, 3)
					if err != nil || len(got) == 0 {
						return won, err
					}
					for _, c := range got {
						if c.Instance != fmt.Sprintf("inst-%d", i) {
							return won, fmt.Errorf("adopted call owned by %q", c.Instance)
						}
						won = append(won, c.ID)
					}
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newStores(t)
			var callIDs []string
			for range tc.calls {
				callIDs = append(callIDs, add(t, a, NewCall("alice", "inst-dead", T0)).ID)
			}
			if tc.setup != nil {
				tc.setup(t, a)
			}
			var (
				mu  sync.Mutex
				won = map[string]int{}
				wg  sync.WaitGroup
			)
			start := make(chan struct{})
			for i := range racers {
				s := a
				if i%2 == 1 {
					s = b
				}
				wg.Go(func() {
					<-start
					got, err := tc.race(s, i, callIDs)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					defer mu.Unlock()
					for _, id := range got {
						won[id]++
					}
				})
			}
			close(start)
			wg.Wait()
			if len(won) != tc.want {
				t.Fatalf("%d calls won, want %d", len(won), tc.want)
			}
			for id, n := range won {
				if n != 1 {
					t.Fatalf("%s won %d times", id, n)
				}
			}
		})
	}
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func claimErr(_ calls.Call, err error) error    { return err }
func dueErr(_ []calls.Claimed, err error) error { return err }
func adoptErr(_ []calls.Call, err error) error  { return err }
