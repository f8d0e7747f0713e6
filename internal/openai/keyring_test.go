package openai

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	keyA = "sk-proj-aaaaaaaaaaaaaaaaaaaaaaaa1111"
	keyB = "sk-proj-bbbbbbbbbbbbbbbbbbbbbbbb2222"
	keyC = "sk-proj-cccccccccccccccccccccccc3333"
)

func writeKey(t *testing.T, path, key string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestKeyRingFailsOverOnceAndThenReportsAllRejected(t *testing.T) {
	var logs bytes.Buffer
	r, err := NewKeyRing(KeyRingOptions{Primary: KeySource{Value: keyA}, Backup: KeySource{Value: keyB}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	k := r.pick()
	if k.value != keyA {
		t.Fatalf("first pick slot %d", k.slot)
	}
	// Two calls in flight with the primary are both refused: one failover.
	next1, sw1 := r.reject(k, func(s string) bool { return s == keyA })
	next2, sw2 := r.reject(k, func(s string) bool { return s == keyA })
	if next1.value != keyB || next2.value != keyB || !sw1 || sw2 {
		t.Fatalf("rejections: %v/%v %v/%v", next1.slot, sw1, next2.slot, sw2)
	}
	if st := r.Status(); st.Active != SlotBackup || !st.Slots[0].Rejected || st.Slots[1].Rejected {
		t.Fatalf("status %+v", st)
	}
	if err := r.Check(context.Background()); err != nil {
		t.Fatalf("ready on the backup: %v", err)
	}
	if r.pick().value != keyB {
		t.Fatal("later calls must start with the backup")
	}
	// The backup is refused too: nothing left to try, unready.
	tried := func(s string) bool { return s == keyA || s == keyB }
	if next, _ := r.reject(keyRef{slot: 1, value: keyB}, tried); next.value != "" {
		t.Fatalf("offered %v with both keys refused", next.slot)
	}
	err = r.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), KeyID(keyA)) || !strings.Contains(err.Error(), KeyID(keyB)) {
		t.Fatalf("readiness with both keys refused: %v", err)
	}
	// A new call tries only the active key: no second upstream call.
	if next, _ := r.reject(r.pick(), func(s string) bool { return s == keyB }); next.value != "" {
		t.Fatalf("a rejected primary was offered again: %v", next)
	}
	r.accept(keyRef{slot: 1, value: keyB})
	if err := r.Check(context.Background()); err != nil {
		t.Fatalf("backup accepted again, still unready: %v", err)
	}
	for _, k := range []string{keyA, keyB} {
		if strings.Contains(logs.String(), k) || strings.Contains(logs.String(), k[:20]) {
			t.Fatal("a key reached the log")
		}
	}
	if !strings.Contains(logs.String(), "failover") || !strings.Contains(logs.String(), KeyID(keyA)) {
		t.Errorf("failover not logged with the key id: %s", logs.String())
	}
}

func TestKeyRingWithoutBackupHasNothingToTry(t *testing.T) {
	r := StaticKeyRing(keyA)
	if next, sw := r.reject(r.pick(), func(s string) bool { return s == keyA }); next.value != "" || sw {
		t.Fatalf("next %v switched %v", next, sw)
	}
	if r.Check(context.Background()) == nil {
		t.Fatal("ready with the only key refused")
	}
}

func TestKeyRingReloadsFiles(t *testing.T) {
	dir := t.TempDir()
	pf, bf := filepath.Join(dir, "primary"), filepath.Join(dir, "backup")
	writeKey(t, pf, keyA)
	writeKey(t, bf, keyB)
	clk := newFakeClock()
	r, err := NewKeyRing(KeyRingOptions{Primary: KeySource{File: pf}, Backup: KeySource{File: bf}, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if !r.HasFiles() || r.pick().value != keyA {
		t.Fatal("primary not read from its file")
	}
	r.reject(r.pick(), func(s string) bool { return s == keyA })
	if r.Status().Active != SlotBackup {
		t.Fatal("no failover")
	}

	t.Run("a replaced primary takes over again, no longer rejected", func(t *testing.T) {
		writeKey(t, pf, keyC)
		if err := r.Reload(); err != nil {
			t.Fatal(err)
		}
		if k := r.pick(); k.value != keyC || k.slot != 0 || r.Status().Slots[0].Rejected {
			t.Fatalf("pick %+v status %+v", k.slot, r.Status())
		}
	})
	t.Run("an empty or missing file keeps the old key", func(t *testing.T) {
		if err := os.WriteFile(pf, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := r.Reload(); err == nil || r.pick().value != keyC {
			t.Fatalf("empty file: err %v", err)
		}
		if err := os.Remove(pf); err != nil {
			t.Fatal(err)
		}
		if err := r.Reload(); err == nil || r.pick().value != keyC {
			t.Fatalf("missing file: err %v", err)
		}
	})
	t.Run("a rejection re-reads the file and retries the same slot with the new key", func(t *testing.T) {
		writeKey(t, pf, keyA)
		clk.advance(time.Second)
		old := keyRef{slot: 0, value: keyC}
		next, sw := r.reject(old, func(s string) bool { return s == keyC })
		if next.value != keyA || next.slot != 0 || sw {
			t.Fatalf("next %+v switched %v", next, sw)
		}
	})
}

func TestNewKeyRingRefusesUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	spaced := filepath.Join(dir, "spaced")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	_ = os.WriteFile(spaced, []byte("sk-a sk-b\n"), 0o600)
	for name, src := range map[string]KeySource{
		"missing file":       {File: filepath.Join(dir, "nope")},
		"empty file":         {File: empty},
		"two tokens in file": {File: spaced},
		"no key at all":      {},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewKeyRing(KeyRingOptions{Primary: src}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestKeyRingWatchReloadsOnSignalAndOnTimer(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "primary")
	writeKey(t, pf, keyA)
	r, err := NewKeyRing(KeyRingOptions{Primary: KeySource{File: pf}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal)
	done := make(chan struct{})
	go func() { r.Watch(ctx, 0, sig); close(done) }()
	writeKey(t, pf, keyB)
	sig <- syscall.SIGHUP
	sig <- syscall.SIGHUP // the first was handled once the second is taken
	if r.pick().value != keyB {
		t.Fatal("signal did not reload")
	}
	cancel()
	<-done

	writeKey(t, pf, keyC)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go r.Watch(ctx, 5*time.Millisecond, nil)
	for deadline := time.Now().Add(10 * time.Second); r.pick().value != keyC; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timer never reloaded the file")
		}
	}
}

func TestKeyIDHidesTheKey(t *testing.T) {
	id := KeyID(keyA)
	if strings.Contains(id, keyA[:len(keyA)-4]) || !strings.HasSuffix(strings.Fields(id)[0], "1111") {
		t.Fatalf("id %q", id)
	}
	if KeyID(keyA) == KeyID(keyB) {
		t.Fatal("ids collide")
	}
	if id := KeyID("short"); strings.Contains(id, "hort") {
		t.Fatalf("short key shown: %q", id)
	}
}

// TestKeyRingHealth: readiness is fine on the primary, degraded (ready,
// shown) on the backup, unready with every key rejected.
func TestKeyRingHealth(t *testing.T) {
	r, err := NewKeyRing(KeyRingOptions{Primary: KeySource{Value: keyA}, Backup: KeySource{Value: keyB}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if d, err := r.Health(ctx); d != "" || err != nil {
		t.Fatalf("on the primary: %q %v", d, err)
	}
	r.reject(r.pick(), func(s string) bool { return s == keyA })
	if d, err := r.Health(ctx); err != nil || !strings.Contains(d, "active backup") || !strings.Contains(d, "rejected") {
		t.Fatalf("on the backup: %q %v", d, err)
	}
	r.reject(keyRef{slot: 1, value: keyB}, func(s string) bool { return s == keyA || s == keyB })
	if d, err := r.Health(ctx); err == nil || d != "" {
		t.Fatalf("every key rejected: %q %v", d, err)
	}
}
