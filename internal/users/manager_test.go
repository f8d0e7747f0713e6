package users_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/users"
	"github.com/rtgate/rtgate/internal/users/userstest"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newManager(t *testing.T, lim users.Limits, logs *bytes.Buffer) (*users.Manager, *clock) {
	t.Helper()
	c := &clock{now: userstest.T0}
	log := slog.New(slog.DiscardHandler)
	if logs != nil {
		log = slog.New(slog.NewJSONHandler(logs, nil))
	}
	m, err := users.NewManager(users.Options{
		Store: users.NewMemory(), Limits: lim, Retention: 24 * time.Hour,
		IPHashKey: []byte("ip-hash-key-for-tests-0123456789"), Now: c.Now, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

func TestRecordKeepsOnlyTheNetworkAndAKeyedHash(t *testing.T) {
	cases := []struct {
		name, ip, network string
	}{
		{"IPv4 is truncated to its /24", "203.0.113.77", "203.0.113.0/24"},
		{"IPv4-mapped IPv6 is IPv4", "::ffff:203.0.113.77", "203.0.113.0/24"},
		{"IPv6 is truncated to its /48", "2001:db8:1234:5678::9", "2001:db8:1234::/48"},
		{"unknown address keeps nothing", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, c := newManager(t, users.Limits{}, nil)
			var ip netip.Addr
			if tc.ip != "" {
				ip = netip.MustParseAddr(tc.ip)
			}
			a, err := m.Admit(t.Context(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			s := users.Session{SessionID: "sess_1", Kind: "token", Model: "gpt-realtime", CreatedAt: c.now, ExpiresAt: c.now.Add(time.Minute)}
			if err := m.Record(t.Context(), "alice", a.Reservation, s, ip); err != nil {
				t.Fatal(err)
			}
			d, err := m.Export(t.Context(), "alice")
			if err != nil || len(d.Sessions) != 1 {
				t.Fatalf("export %+v %v", d, err)
			}
			r := d.Sessions[0]
			if r.ClientNet != tc.network {
				t.Errorf("network = %q, want %q", r.ClientNet, tc.network)
			}
			if tc.ip == "" {
				if r.ClientIPHash != "" {
					t.Errorf("hash of no address: %q", r.ClientIPHash)
				}
				return
			}
			if len(r.ClientIPHash) != 32 || strings.Contains(r.ClientIPHash, "203") {
				t.Errorf("hash = %q", r.ClientIPHash)
			}
			if !r.ActiveUntil.Equal(c.now.Add(time.Minute)) {
				t.Errorf("active until %v, want the secret's expiry", r.ActiveUntil)
			}
		})
	}
}

func TestSameAddressSameHashOtherKeyOtherHash(t *testing.T) {
	hash := func(key string, ip string) string {
		m, err := users.NewManager(users.Options{Store: users.NewMemory(), Retention: time.Hour, IPHashKey: []byte(key), Now: func() time.Time { return userstest.T0 }})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := m.Admit(t.Context(), "u")
		if err := m.Record(t.Context(), "u", a.Reservation, users.Session{CreatedAt: userstest.T0, ExpiresAt: userstest.T0}, netip.MustParseAddr(ip)); err != nil {
			t.Fatal(err)
		}
		d, _ := m.Export(t.Context(), "u")
		return d.Sessions[0].ClientIPHash
	}
	a := hash("key-one-key-one-key-one-key-one!", "198.51.100.7")
	if b := hash("key-one-key-one-key-one-key-one!", "198.51.100.7"); a != b {
		t.Error("same key and address give different hashes")
	}
	if b := hash("key-one-key-one-key-one-key-one!", "198.51.100.8"); a == b {
		t.Error("neighbouring addresses share a hash")
	}
	if b := hash("key-two-key-two-key-two-key-two!", "198.51.100.7"); a == b {
		t.Error("the hash does not depend on the key")
	}
}

func TestReleaseGivesTheSlotBack(t *testing.T) {
	m, _ := newManager(t, users.Limits{MaxActive: 1, DailyQuota: 1}, nil)
	a, err := m.Admit(t.Context(), "alice")
	if err != nil || a.Reservation == "" {
		t.Fatalf("%+v %v", a, err)
	}
	if a2, err := m.Admit(t.Context(), "alice"); err == nil || a2.Reservation != "" {
		t.Fatalf("second admission: %+v %v", a2, err)
	}
	if err := m.Release(t.Context(), "alice", a.Reservation); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Admit(t.Context(), "alice"); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestActiveSessionsListsOnlyActiveOnes(t *testing.T) {
	m, c := newManager(t, users.Limits{}, nil)
	for i := range 2 {
		a, _ := m.Admit(t.Context(), "alice")
		s := users.Session{SessionID: []string{"sess_old", "sess_new"}[i], CreatedAt: c.now, ExpiresAt: c.now.Add(time.Minute)}
		if err := m.Record(t.Context(), "alice", a.Reservation, s, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
		c.now = c.now.Add(40 * time.Second)
	}
	// now = T0+80s: sess_old was active until T0+60s, sess_new is until T0+100s.
	d, err := m.ActiveSessions(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Sessions) != 1 || d.Sessions[0].SessionID != "sess_new" {
		t.Fatalf("active: %+v", d.Sessions)
	}
}

func TestAuditEvents(t *testing.T) {
	var logs bytes.Buffer
	m, _ := newManager(t, users.Limits{}, &logs)
	if _, err := m.Block(t.Context(), "mallory", "abuse"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Unblock(t.Context(), "mallory"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Erase(t.Context(), "alice", "user"); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{`"event":"user_blocked"`, `"event":"user_unblocked"`, `"event":"data_erased"`} {
		if !strings.Contains(logs.String(), ev) {
			t.Errorf("no %s in %s", ev, logs.String())
		}
	}
}

func TestACallIsActiveUntilItsOwnDeadline(t *testing.T) {
	m, c := newManager(t, users.Limits{}, nil)
	a, _ := m.Admit(t.Context(), "alice")
	s := users.Session{SessionID: "rtc_1", Kind: users.KindCall, CreatedAt: c.now, ExpiresAt: c.now.Add(time.Hour)}
	if err := m.Record(t.Context(), "alice", a.Reservation, s, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	d, _ := m.Export(t.Context(), "alice")
	if got := d.Sessions[0].ActiveUntil; !got.Equal(c.now.Add(time.Hour)) {
		t.Fatalf("call active until %v, want its deadline %v", got, c.now.Add(time.Hour))
	}
}

// TestTokenReloadsDoNotLockAUserOut is the token-mode slot rule with the
// defaults (USER_MAX_ACTIVE_SESSIONS=5, 60 s secrets): a secret holds its
// slot until it expires, not for the hour a session opened with it might
// last, so a user who reloads the page five times still gets a sixth
// secret. Five mints within one secret's lifetime do fill the cap, and the
// refusal says when the earliest secret expires.
func TestTokenReloadsDoNotLockAUserOut(t *testing.T) {
	const ttl = time.Minute
	m, c := newManager(t, users.Limits{MaxActive: 5, DailyQuota: 100}, nil)
	mint := func() error {
		a, err := m.Admit(t.Context(), "alice")
		if err != nil {
			return err
		}
		return m.Record(t.Context(), "alice", a.Reservation, users.Session{SessionID: "sess", Kind: users.KindToken, CreatedAt: c.now, ExpiresAt: c.now.Add(ttl)}, netip.Addr{})
	}
	t.Run("five reloads a few minutes apart, then a sixth", func(t *testing.T) {
		for i := range 5 {
			if err := mint(); err != nil {
				t.Fatalf("reload %d: %v", i+1, err)
			}
			c.now = c.now.Add(3 * time.Minute)
		}
		if err := mint(); err != nil {
			t.Fatalf("the sixth mint after five reloads: %v", err)
		}
	})
	t.Run("five reloads within a minute: the sixth waits for the first secret's expiry", func(t *testing.T) {
		c.now = c.now.Add(time.Hour)
		for i := range 5 {
			if err := mint(); err != nil {
				t.Fatalf("reload %d: %v", i+1, err)
			}
			c.now = c.now.Add(5 * time.Second)
		}
		err := mint()
		var r *users.Refusal
		if !errors.As(err, &r) || r.Reason != users.ReasonActiveSessions || r.RetryAfter != ttl-25*time.Second {
			t.Fatalf("sixth within the minute: %v, want active_sessions retry after 35s", err)
		}
		c.now = c.now.Add(r.RetryAfter)
		if err := mint(); err != nil {
			t.Fatalf("once the first secret expired: %v", err)
		}
	})
}

// TestTheCapHoldsForConcurrentCalls: proxied calls hold their slot until
// their deadline or hang-up, however long that is, so the cap bounds how
// many a user runs at once; a hang-up gives the slot back at once.
func TestTheCapHoldsForConcurrentCalls(t *testing.T) {
	m, c := newManager(t, users.Limits{MaxActive: 5, DailyQuota: 100}, nil)
	var calls []users.Reservation
	for i := range 5 {
		a, err := m.Admit(t.Context(), "alice")
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		s := users.Session{SessionID: "rtc", Kind: users.KindCall, CreatedAt: c.now, ExpiresAt: c.now.Add(time.Hour)}
		if err := m.Record(t.Context(), "alice", a.Reservation, s, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
		calls = append(calls, a.Reservation)
	}
	c.now = c.now.Add(30 * time.Minute) // long past any secret's lifetime
	_, err := m.Admit(t.Context(), "alice")
	var r *users.Refusal
	if !errors.As(err, &r) || r.Reason != users.ReasonActiveSessions || r.RetryAfter != 30*time.Minute {
		t.Fatalf("a sixth concurrent call: %v, want active_sessions until the first call's deadline", err)
	}
	if err := m.End(t.Context(), "alice", calls[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Admit(t.Context(), "alice"); err != nil {
		t.Fatalf("after a hang-up: %v", err)
	}
}
