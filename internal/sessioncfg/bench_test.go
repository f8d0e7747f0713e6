package sessioncfg_test

import (
	"testing"

	"github.com/rtgate/rtgate/internal/sessioncfg"
)

// BenchmarkRealtimeRender is the per-request cost of the session file: one
// render of the rich file's Realtime session (every mint and call pays it).
func BenchmarkRealtimeRender(b *testing.B) {
	cfg, err := sessioncfg.Load("testdata/rich.json", testEnv())
	if err != nil {
		b.Fatal(err)
	}
	s, _ := sessioncfg.New(cfg, sessioncfg.Options{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Realtime("gpt-realtime-2.1", "marin"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLocksCheck is the cost of checking one session.updated.
func BenchmarkLocksCheck(b *testing.B) {
	cfg, err := sessioncfg.Parse("f.json", []byte(lockFile), testEnv())
	if err != nil {
		b.Fatal(err)
	}
	locks := cfg.Locks("gpt-realtime-2.1", "marin")
	observed := []byte(echo)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := locks.Check(observed); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad is the cost of reading and validating the rich file (start-up, SIGHUP).
func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sessioncfg.Load("testdata/rich.json", testEnv()); err != nil {
			b.Fatal(err)
		}
	}
}
