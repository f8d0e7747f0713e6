package users_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
	"github.com/rtgate/rtgate/internal/users"
	"github.com/rtgate/rtgate/internal/users/userstest"
)

// benchAdmitCommit measures one admission and one record, the store work
// of one mint, over 1000 users with limits on.
func benchAdmitCommit(b *testing.B, s users.Store) {
	ctx := b.Context()
	now := userstest.T0
	lim := users.Limits{MaxActive: 1 << 30, DailyQuota: 1 << 30}
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		u := ids[i%len(ids)]
		res := fmt.Sprintf("r%d", i)
		i++
		if _, err := s.Admit(ctx, u, now, lim, res, now.Add(time.Minute)); err != nil {
			b.Fatal(err)
		}
		rec := users.Record{UserID: u, SessionID: "sess_" + res, Kind: "token", Model: "gpt-realtime", CreatedAt: now, ExpiresAt: now.Add(time.Minute), ActiveUntil: now.Add(61 * time.Minute)}
		if err := s.Commit(ctx, u, res, rec, now, 30*24*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryAdmitCommit(b *testing.B) { benchAdmitCommit(b, users.NewMemory()) }

func BenchmarkRedisAdmitCommit(b *testing.B) {
	srv := redistest.Start(b)
	c, err := newClientTB(b, srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	benchAdmitCommit(b, users.NewRedis(c, "bench:"))
}
