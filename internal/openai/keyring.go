package openai

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Key slot names.
const (
	SlotPrimary = "primary"
	SlotBackup  = "backup"
)

// KeySource is where one key comes from: a literal value or a file whose
// trimmed content is the key. File wins when both are set.
type KeySource struct {
	Value string
	File  string
}

func (s KeySource) empty() bool { return s.Value == "" && s.File == "" }

// KeyRingOptions configures a KeyRing.
type KeyRingOptions struct {
	Primary KeySource
	Backup  KeySource // optional
	Logger  *slog.Logger
	// Observer, when it implements KeyReloadObserver, counts reloads.
	Observer Observer
	Now      func() time.Time
}

// KeyRing holds the primary and the optional backup API key, knows which
// one is active, and which ones the upstream has rejected. Keys from files
// are re-read by Reload (on SIGHUP, on a timer, and when the upstream
// rejects a key), so a rotation is a file write. A KeyRing never logs a
// key: only KeyID.
type KeyRing struct {
	log *slog.Logger
	obs KeyReloadObserver
	now func() time.Time

	reloadMu   sync.Mutex // one reload at a time
	lastReload time.Time

	mu          sync.Mutex
	slots       []*keySlot
	active      int
	allRejected bool
}

type keySlot struct {
	name     string
	file     string
	value    string
	header   keyHeader // value's request header values, made when value is set
	rejected bool
}

// keyHeader is a key's request header values, made once per key value and
// shared by every attempt with it (len == cap == 1, so an append copies;
// the transport only reads them): an attempt neither concatenates
// "Bearer " nor allocates a value slice.
type keyHeader struct {
	bearer []string // Authorization: Bearer <key> (OpenAI)
	plain  []string // api-key: <key> (Azure OpenAI)
}

func newKeySlot(name, file, value string) *keySlot {
	s := &keySlot{name: name, file: file}
	s.set(value)
	return s
}

// set makes v the slot's key.
func (s *keySlot) set(v string) {
	s.value = v
	s.header = keyHeader{bearer: []string{"Bearer " + v}, plain: []string{v}}
}

// keyRef is the key one attempt used: its slot and its value (with its
// header values) at the time.
type keyRef struct {
	slot   int
	value  string
	header keyHeader
}

// refLocked is the current key of slot i; r.mu is held.
func (r *KeyRing) refLocked(i int) keyRef {
	s := r.slots[i]
	return keyRef{slot: i, value: s.value, header: s.header}
}

// NewKeyRing reads the keys (files included) and returns a ring whose
// primary is active. It fails, naming the file, if a file cannot be read,
// is empty or holds white space inside the key.
func NewKeyRing(o KeyRingOptions) (*KeyRing, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &KeyRing{log: o.Logger, now: o.Now}
	r.obs, _ = o.Observer.(KeyReloadObserver)
	if o.Primary.empty() {
		return nil, errors.New("no primary API key")
	}
	for _, s := range []struct {
		name string
		src  KeySource
	}{{SlotPrimary, o.Primary}, {SlotBackup, o.Backup}} {
		if s.src.empty() {
			continue
		}
		v := s.src.Value
		if s.src.File != "" {
			var err error
			if v, err = ReadKeyFile(s.src.File); err != nil {
				return nil, fmt.Errorf("%s key: %w", s.name, err)
			}
		}
		r.slots = append(r.slots, newKeySlot(s.name, s.src.File, v))
	}
	return r, nil
}

// StaticKeyRing is a ring of one literal key (no backup, no files).
func StaticKeyRing(key string) *KeyRing {
	return &KeyRing{log: slog.New(slog.DiscardHandler), now: time.Now, slots: []*keySlot{newKeySlot(SlotPrimary, "", key)}}
}

// ReadKeyFile reads a key file: its content, trimmed, must be one
// non-empty token without white space.
func ReadKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read key file: %w", err)
	}
	if len(b) > 4096 {
		return "", fmt.Errorf("key file %s is over 4096 bytes", path)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("key file %s is empty", path)
	}
	if strings.ContainsAny(v, " \t\r\n") {
		return "", fmt.Errorf("key file %s holds white space inside the key", path)
	}
	return v, nil
}

// KeyID identifies a key in logs and readiness without revealing it: its
// last four characters and a short SHA-256 prefix.
func KeyID(key string) string {
	if key == "" {
		return "(none)"
	}
	sum := sha256.Sum256([]byte(key))
	last := key
	if len(last) > 4 {
		last = last[len(last)-4:]
	}
	if len(key) < 16 {
		last = "" // too short to show any of it
	}
	return "…" + last + " sha256:" + hex.EncodeToString(sum[:4])
}

// HasFiles reports whether any key comes from a file.
func (r *KeyRing) HasFiles() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.slots {
		if s.file != "" {
			return true
		}
	}
	return false
}

// Reload re-reads the key files. A slot whose key changed is active again
// (a new primary takes over from the backup) and no longer counted as
// rejected. A file that cannot be read, or is empty, keeps the old key and
// makes Reload return an error: a half-written file never wipes a key.
func (r *KeyRing) Reload() error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	return r.reloadLocked()
}

// reloadIfOlder reloads unless the last reload is more recent than age;
// callers that queued behind a reload do not repeat it.
func (r *KeyRing) reloadIfOlder(age time.Duration) {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if r.now().Sub(r.lastReload) >= age {
		_ = r.reloadLocked()
	}
}

func (r *KeyRing) reloadLocked() error {
	r.lastReload = r.now()
	r.mu.Lock()
	files := make([]string, len(r.slots))
	for i, s := range r.slots {
		files[i] = s.file
	}
	r.mu.Unlock()

	var errs []error
	changed := false
	for i, f := range files {
		if f == "" {
			continue
		}
		v, err := ReadKeyFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.mu.Lock()
		s := r.slots[i]
		if s.value != v {
			old := s.value
			s.set(v)
			s.rejected, changed = false, true
			if s.name == SlotPrimary || r.slots[r.active].rejected {
				r.active = i
			}
			r.allRejected = false
			r.log.Info("upstream API key reloaded", "slot", s.name, "key_id", KeyID(v), "previous_key_id", KeyID(old), "active", r.slots[r.active].name)
		}
		r.mu.Unlock()
	}
	switch {
	case len(errs) > 0:
		r.observeReload("error")
		err := errors.Join(errs...)
		r.log.Error("upstream API key reload failed; keeping the previous key", "error", err.Error())
		return err
	case changed:
		r.observeReload("changed")
	default:
		r.observeReload("unchanged")
	}
	return nil
}

func (r *KeyRing) observeReload(result string) {
	if r.obs != nil {
		r.obs.ObserveKeyReload(result)
	}
}

// Watch reloads the key files every poll (0: never on a timer) and on
// every signal received (SIGHUP), until ctx ends. Without key files it
// only drains signals.
func (r *KeyRing) Watch(ctx context.Context, poll time.Duration, signals <-chan os.Signal) {
	var tick <-chan time.Time
	if poll > 0 && r.HasFiles() {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
			if r.HasFiles() {
				r.log.Info("reloading upstream API keys on signal")
				_ = r.Reload()
			}
		case <-tick:
			_ = r.Reload()
		}
	}
}

// pick returns the active key.
func (r *KeyRing) pick() keyRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refLocked(r.active)
}

// reject records that the upstream refused k (401/403) and returns the key
// to try next, if any: the same slot's new value if a reload changed it,
// else the other slot's key when it is neither rejected nor already tried
// by this call. switched is true when this rejection moved the active key
// to the other slot (a failover, counted once per switch).
func (r *KeyRing) reject(k keyRef, tried func(string) bool) (next keyRef, switched bool) {
	if r.HasFiles() {
		// A rotation may have been written but not read yet: read now,
		// at most every 100ms however many calls are refused.
		r.reloadIfOlder(100 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.slots[k.slot]
	if s.value != k.value {
		if !tried(s.value) {
			return r.refLocked(k.slot), false
		}
	} else if !s.rejected {
		s.rejected = true
		r.log.Warn("upstream rejected API key", "slot", s.name, "key_id", KeyID(s.value))
	}
	for i, o := range r.slots {
		if i == k.slot || o.rejected || tried(o.value) {
			continue
		}
		if r.active == k.slot {
			r.active = i
			r.log.Warn("upstream API key failover", "from", s.name, "from_key_id", KeyID(s.value), "to", o.name, "to_key_id", KeyID(o.value))
			return r.refLocked(i), true
		}
		return r.refLocked(i), false
	}
	if r.allRejectedLocked() && !r.allRejected {
		r.allRejected = true
		r.log.Error("upstream rejected every API key; minting fails until a key is replaced (OPENAI_API_KEY_FILE + SIGHUP) or accepted again")
	}
	return keyRef{}, false
}

// accept records that the upstream took k: a rejected key that works
// again is no longer counted as rejected.
func (r *KeyRing) accept(k keyRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.slots[k.slot]
	if s.value == k.value && s.rejected {
		s.rejected = false
		r.allRejected = false
		r.log.Info("upstream accepts API key again", "slot", s.name, "key_id", KeyID(s.value))
	}
}

func (r *KeyRing) allRejectedLocked() bool {
	for _, s := range r.slots {
		if !s.rejected {
			return false
		}
	}
	return true
}

// KeySlotStatus describes one slot of the ring.
type KeySlotStatus struct {
	Name     string // primary or backup
	KeyID    string
	FromFile bool
	Rejected bool
}

// KeyRingStatus is a snapshot of the ring.
type KeyRingStatus struct {
	Active string // the slot in use
	Slots  []KeySlotStatus
}

// Status returns a snapshot of the ring (no key values).
func (r *KeyRing) Status() KeyRingStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := KeyRingStatus{Active: r.slots[r.active].name}
	for _, s := range r.slots {
		st.Slots = append(st.Slots, KeySlotStatus{Name: s.name, KeyID: KeyID(s.value), FromFile: s.file != "", Rejected: s.rejected})
	}
	return st
}

// String summarises the status for logs and readiness detail.
func (st KeyRingStatus) String() string {
	parts := make([]string, 0, len(st.Slots))
	for _, s := range st.Slots {
		state := "ok"
		if s.Rejected {
			state = "rejected"
		}
		parts = append(parts, fmt.Sprintf("%s %s %s", s.Name, s.KeyID, state))
	}
	return "active " + st.Active + " (" + strings.Join(parts, "; ") + ")"
}

// Check is the ring's readiness probe: an error when the upstream has
// rejected every key, since then no mint can succeed.
func (r *KeyRing) Check(context.Context) error {
	r.mu.Lock()
	all := r.allRejectedLocked()
	r.mu.Unlock()
	if all {
		return fmt.Errorf("every API key rejected by the upstream: %s", r.Status())
	}
	return nil
}

// Health is the ring's readiness with its grey zone: an error when no key
// is usable (Check), a degraded detail when serving on the backup or with
// a rejected key (ready, but an operator must see it: the guide's "keep a
// backup key ready"), and "" when all is well.
func (r *KeyRing) Health(ctx context.Context) (degraded string, err error) {
	if err := r.Check(ctx); err != nil {
		return "", err
	}
	st := r.Status()
	for _, s := range st.Slots {
		if s.Rejected || st.Active != st.Slots[0].Name {
			return st.String(), nil
		}
	}
	return "", nil
}
