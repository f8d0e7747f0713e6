package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/simulator"
)

const (
	primaryKey = "sk-proj-primary-0000000000000000aaaa"
	backupKey  = "sk-proj-backup-11111111111111111bbbb"
)

// recorder is an Observer that counts outcomes.
type recorder struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *recorder) ObserveUpstream(outcome string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[outcome]++
}

func (r *recorder) count(outcome string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[outcome]
}

// clock is a settable clock shared by the simulator and the client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type rig struct {
	sim    *simulator.Simulator
	srv    *httptest.Server
	client *openai.Client
	obs    *recorder
	clock  *clock
	sleeps []time.Duration
}

// newRig runs a simulator accepting simKeys over real HTTP and a client
// configured by o (BaseURL, Observer, Now and Sleep are filled in).
func newRig(t *testing.T, simKeys []string, o openai.Options) *rig {
	t.Helper()
	clk := &clock{t: time.Now().Truncate(time.Second)}
	r := &rig{obs: &recorder{}, clock: clk}
	r.sim = simulator.New(simulator.Options{APIKeys: simKeys, Now: clk.Now})
	r.srv = httptest.NewServer(r.sim)
	t.Cleanup(r.srv.Close)
	o.BaseURL = r.srv.URL + "/v1"
	o.Observer = r.obs
	o.Now = clk.Now
	var mu sync.Mutex
	o.Sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		r.sleeps = append(r.sleeps, d)
		mu.Unlock()
		return ctx.Err()
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	r.client = openai.New(o)
	t.Cleanup(r.client.CloseIdleConnections)
	return r
}

func params() openai.MintParams {
	return openai.MintParams{Model: "gpt-realtime", Voice: "marin", TTL: 600 * time.Second}
}

func keyRing(t *testing.T, primary, backup string) *openai.KeyRing {
	t.Helper()
	r, err := openai.NewKeyRing(openai.KeyRingOptions{Primary: openai.KeySource{Value: primary}, Backup: openai.KeySource{Value: backup}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPrimaryRejectedBackupServesThisCallAndTheNext(t *testing.T) {
	r := newRig(t, []string{backupKey}, openai.Options{Keys: keyRing(t, primaryKey, backupKey)})
	m, err := r.client.MintClientSecret(context.Background(), params())
	if err != nil || !strings.HasPrefix(m.Value, "ek_") {
		t.Fatalf("mint with a refused primary: %v", err)
	}
	if r.sim.Requests() != 2 || r.obs.count(openai.OutcomeKeyFailover) != 1 || r.obs.count(openai.OutcomeOK) != 1 {
		t.Fatalf("upstream requests %d, outcomes %v", r.sim.Requests(), r.obs.n)
	}
	if _, err := r.client.MintClientSecret(context.Background(), params()); err != nil {
		t.Fatal(err)
	}
	if r.sim.Requests() != 3 || r.sim.LastRequest().Header.Get("Authorization") != "Bearer "+backupKey {
		t.Fatalf("the next call did not go straight to the backup (%d requests)", r.sim.Requests())
	}
	if st := r.client.Keys().Status(); st.Active != openai.SlotBackup || !st.Slots[0].Rejected {
		t.Fatalf("status %v", st)
	}
}

func TestBothKeysRejectedFailsAndRecovers(t *testing.T) {
	r := newRig(t, []string{"sk-proj-someone-elses-key-000000000"}, openai.Options{Keys: keyRing(t, primaryKey, backupKey)})
	var se *openai.StatusError
	if _, err := r.client.MintClientSecret(context.Background(), params()); !errors.As(err, &se) || se.Status != 401 || errors.Is(err, openai.ErrUnavailable) {
		t.Fatalf("err %v", err)
	}
	if err := r.client.Keys().Check(context.Background()); err == nil {
		t.Fatal("ready with both keys refused")
	}
	before := r.sim.Requests()
	if _, err := r.client.MintClientSecret(context.Background(), params()); err == nil {
		t.Fatal("minted with both keys refused")
	}
	if n := r.sim.Requests() - before; n != 1 {
		t.Fatalf("with both keys known bad a call made %d upstream requests, want 1", n)
	}
	if r.client.Breaker().State().State != openai.BreakerClosed {
		t.Fatal("bad keys must not open the breaker: the upstream is up")
	}
	r.sim.SetKeys(backupKey)
	if _, err := r.client.MintClientSecret(context.Background(), params()); err != nil {
		t.Fatalf("backup accepted again: %v", err)
	}
	if err := r.client.Keys().Check(context.Background()); err != nil {
		t.Fatalf("still unready: %v", err)
	}
}

// TestRetries: a create (mint or call) is re-sent only when the earlier
// attempt provably did not reach OpenAI or was refused with 429, which
// OpenAI does not act on. After a 5xx, a timeout or a dropped connection
// the upstream may have created a secret or a call: re-sending would make a
// second one.
func TestRetries(t *testing.T) {
	cases := []struct {
		name     string
		fault    simulator.Fault
		retries  int
		timeout  time.Duration
		requests int // upstream requests made
		ok       bool
		minSleep time.Duration
	}{
		{"a 500 is never re-sent", simulator.Fault{Kind: simulator.FaultServerError, Count: 1}, 2, 0, 1, false, 0},
		{"a persistent 500 is sent once", simulator.Fault{Kind: simulator.FaultServerError}, 2, 0, 1, false, 0},
		{"a 503 with Retry-After is never re-sent", simulator.Fault{Kind: simulator.FaultOverloaded, RetryAfter: 2 * time.Second, Count: 1}, 2, 0, 1, false, 0},
		{"429 retried after Retry-After", simulator.Fault{Kind: simulator.FaultRateLimited, RetryAfter: time.Second, Count: 1}, 2, 0, 2, true, time.Second},
		{"persistent 429 stops at the cap", simulator.Fault{Kind: simulator.FaultRateLimited, RetryAfter: time.Second}, 2, 0, 3, false, time.Second},
		{"429 without retries configured", simulator.Fault{Kind: simulator.FaultRateLimited, Count: 1}, 0, 0, 1, false, 0},
		{"Retry-After past the deadline is not waited for", simulator.Fault{Kind: simulator.FaultRateLimited, RetryAfter: 7 * time.Second, Count: 1}, 2, time.Second, 1, false, 0},
		{"400 is never retried", simulator.Fault{}, 2, 0, 1, false, 0},
		{"dropped connection after sending is not retried", simulator.Fault{Kind: simulator.FaultDrop, Count: 1}, 2, 0, 1, false, 0},
	}
	creates := []struct {
		name string
		do   func(c *openai.Client, p openai.MintParams) error
	}{
		{"mint", func(c *openai.Client, p openai.MintParams) error {
			_, err := c.MintClientSecret(context.Background(), p)
			return err
		}},
		{"call", func(c *openai.Client, p openai.MintParams) error {
			_, err := c.CreateCall(context.Background(), offer, p)
			return err
		}},
	}
	for _, create := range creates {
		for _, tc := range cases {
			t.Run(create.name+"/"+tc.name, func(t *testing.T) {
				r := newRig(t, []string{primaryKey}, openai.Options{APIKey: primaryKey, Retries: tc.retries, Timeout: tc.timeout})
				r.sim.SetFault(tc.fault)
				p := params()
				if tc.name == "400 is never retried" {
					p.TTL = 5 * time.Second // below the 10s minimum: a 400 for the mint
					p.Model = ""            // and an invalid session for the call
				}
				err := create.do(r.client, p)
				if (err == nil) != tc.ok {
					t.Fatalf("err %v", err)
				}
				if r.sim.Requests() != tc.requests {
					t.Fatalf("upstream requests %d, want %d", r.sim.Requests(), tc.requests)
				}
				t.Logf("upstream POSTs for one request: %d", r.sim.Requests())
				if len(r.sleeps) != tc.requests-1 {
					t.Fatalf("slept %v", r.sleeps)
				}
				for _, s := range r.sleeps {
					if s < tc.minSleep || s <= 0 || s > max(tc.minSleep, 2*time.Second) {
						t.Errorf("backoff %v outside [%v, cap]", s, tc.minSleep)
					}
				}
			})
		}
	}
}

// TestHangupIsRetriedAfter5xx: a hang-up is idempotent (a second one for
// an ended call is a 404, which counts as done), so it may be re-sent
// after a 5xx, unlike a create.
func TestHangupIsRetriedAfter5xx(t *testing.T) {
	r := newRig(t, []string{primaryKey}, openai.Options{APIKey: primaryKey, Retries: 2})
	call, err := r.client.CreateCall(context.Background(), offer, params())
	if err != nil {
		t.Fatal(err)
	}
	r.sim.SetFault(simulator.Fault{Kind: simulator.FaultServerError, Count: 1})
	if err := r.client.Hangup(context.Background(), call.ID); err != nil {
		t.Fatalf("hangup after one 500: %v", err)
	}
	if r.sim.Requests() != 3 {
		t.Fatalf("upstream requests %d, want 3 (create, 500, hangup)", r.sim.Requests())
	}
}

func TestConnectionRefusedIsRetriedThenFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	obs := &recorder{}
	var sleeps atomic.Int32
	c := openai.New(openai.Options{BaseURL: "http://" + addr + "/v1", APIKey: primaryKey, Retries: 2, Timeout: 5 * time.Second, Observer: obs,
		Sleep: func(context.Context, time.Duration) error { sleeps.Add(1); return nil }})
	_, err = c.MintClientSecret(context.Background(), params())
	if err == nil || errors.Is(err, openai.ErrUnavailable) || errors.Is(err, openai.ErrTimeout) {
		t.Fatalf("err %v", err)
	}
	if obs.count(openai.OutcomeNetwork) != 3 || sleeps.Load() != 2 {
		t.Fatalf("network attempts %d sleeps %d", obs.count(openai.OutcomeNetwork), sleeps.Load())
	}
}

func TestSlowUpstreamTimesOutAtTheDeadline(t *testing.T) {
	r := newRig(t, []string{primaryKey}, openai.Options{APIKey: primaryKey, Retries: 2, Timeout: 200 * time.Millisecond})
	r.sim.SetFault(simulator.Fault{Kind: simulator.FaultSlow, Delay: time.Minute})
	start := time.Now()
	_, err := r.client.MintClientSecret(context.Background(), params())
	if !errors.Is(err, openai.ErrTimeout) {
		t.Fatalf("err %v", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond || waited > 30*time.Second {
		t.Fatalf("returned after %v", waited)
	}
	if r.sim.Requests() != 1 || r.obs.count(openai.OutcomeTimeout) != 1 {
		t.Fatalf("a timed-out call was retried: %d requests", r.sim.Requests())
	}
}

func TestBreakerOpensFailsFastAndRecoversAfterCooldown(t *testing.T) {
	r := newRig(t, []string{primaryKey}, openai.Options{APIKey: primaryKey, Breaker: openai.BreakerOptions{Failures: 3, Cooldown: 30 * time.Second}})
	r.sim.SetFault(simulator.Fault{Kind: simulator.FaultServerError})
	for i := 0; i < 3; i++ {
		var se *openai.StatusError
		if _, err := r.client.MintClientSecret(context.Background(), params()); !errors.As(err, &se) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	before := r.sim.Requests()
	calls := []struct {
		name string
		do   func() error
	}{
		{"mint", func() error { _, err := r.client.MintClientSecret(context.Background(), params()); return err }},
		{"create call", func() error { _, err := r.client.CreateCall(context.Background(), offer, params()); return err }},
		{"hangup", func() error { return r.client.Hangup(context.Background(), "rtc_abc") }},
	}
	for _, c := range calls {
		err := c.do()
		var hint interface{ RetryAfterHint() time.Duration }
		if !errors.Is(err, openai.ErrUnavailable) || !errors.As(err, &hint) || hint.RetryAfterHint() != 30*time.Second {
			t.Fatalf("%s while open: %v", c.name, err)
		}
	}
	if r.sim.Requests() != before || r.obs.count(openai.OutcomeBreakerOpen) != 3 {
		t.Fatalf("open breaker let %d calls through", r.sim.Requests()-before)
	}
	r.sim.SetFault(simulator.Fault{})
	r.clock.Advance(29 * time.Second)
	if _, err := r.client.MintClientSecret(context.Background(), params()); !errors.Is(err, openai.ErrUnavailable) {
		t.Fatalf("before the cool-down ends: %v", err)
	}
	r.clock.Advance(time.Second)
	if _, err := r.client.MintClientSecret(context.Background(), params()); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if st := r.client.Breaker().State(); st.State != openai.BreakerClosed {
		t.Fatalf("after a good probe: %+v", st)
	}
}

// gate holds every upstream request until opened.
type gate struct {
	h       http.Handler
	open    chan struct{}
	arrived atomic.Int32
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.arrived.Add(1)
	select {
	case <-g.open:
	case <-r.Context().Done():
		return
	}
	g.h.ServeHTTP(w, r)
}

func TestQueueFullRefusesAtOnceWithoutCallingUpstream(t *testing.T) {
	sim := simulator.New(simulator.Options{APIKeys: []string{primaryKey}})
	g := &gate{h: sim, open: make(chan struct{})}
	srv := httptest.NewServer(g)
	defer srv.Close()
	obs := &recorder{}
	c := openai.New(openai.Options{BaseURL: srv.URL + "/v1", APIKey: primaryKey, MaxConcurrency: 1, QueueSize: 1, QueueTimeout: time.Minute, Timeout: time.Minute, Observer: obs})
	defer c.CloseIdleConnections()
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { _, err := c.MintClientSecret(context.Background(), params()); errs <- err }()
	}
	for deadline := time.Now().Add(10 * time.Second); g.arrived.Load() < 1 || c.Queue().Waiting < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("arrived %d queue %+v", g.arrived.Load(), c.Queue())
		}
	}
	if q := c.Queue(); q.InFlight != 1 || q.Waiting != 1 {
		t.Fatalf("queue %+v", q)
	}
	_, err := c.MintClientSecret(context.Background(), params())
	var ue *openai.UnavailableError
	if !errors.As(err, &ue) || ue.Reason != openai.OutcomeQueueFull || !errors.Is(err, openai.ErrUnavailable) {
		t.Fatalf("third call: %v", err)
	}
	if g.arrived.Load() != 1 || obs.count(openai.OutcomeQueueFull) != 1 {
		t.Fatalf("arrived %d", g.arrived.Load())
	}
	close(g.open)
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("held call: %v", err)
		}
	}
	if q := c.Queue(); q.InFlight != 0 || q.Waiting != 0 {
		t.Fatalf("queue not drained: %+v", q)
	}
}

func TestTokenReuse(t *testing.T) {
	r := newRig(t, []string{primaryKey}, openai.Options{APIKey: primaryKey, TokenReuse: 60 * time.Second})
	alice := params()
	alice.User = "alice"
	mint := func(p openai.MintParams) *openai.Minted {
		t.Helper()
		m, err := r.client.MintClientSecret(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := mint(alice)
	if first.Reused {
		t.Fatal("a first mint cannot be reused")
	}
	steps := []struct {
		name   string
		p      func() openai.MintParams
		reused bool
	}{
		{"same user, same session: reused", func() openai.MintParams { return alice }, true},
		{"anonymous: never reused", func() openai.MintParams { p := alice; p.User = ""; return p }, false},
		{"anonymous again: still never reused", func() openai.MintParams { p := alice; p.User = ""; return p }, false},
		{"another user: never reused", func() openai.MintParams { p := alice; p.User = "bob"; return p }, false},
		{"same user, another voice: not reused", func() openai.MintParams { p := alice; p.Voice = "cedar"; return p }, false},
		{"same user, other instructions: not reused", func() openai.MintParams { p := alice; p.Instructions = "x"; return p }, false},
		{"same user, other model: not reused", func() openai.MintParams { p := alice; p.Model = "gpt-realtime-mini"; return p }, false},
		{"same user, a session from the file: not reused", func() openai.MintParams {
			p := alice
			p.Session = json.RawMessage(`{"type":"realtime","model":"gpt-realtime","max_output_tokens":100}`)
			return p
		}, false},
		{"same user, the file changed (reloaded): not reused", func() openai.MintParams {
			p := alice
			p.Session = json.RawMessage(`{"type":"realtime","model":"gpt-realtime","max_output_tokens":200}`)
			return p
		}, false},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := r.sim.Requests()
			m := mint(s.p())
			if m.Reused != s.reused || (r.sim.Requests() == before) != s.reused {
				t.Fatalf("reused %v, upstream calls %d", m.Reused, r.sim.Requests()-before)
			}
			if s.reused && (m.Value != first.Value || string(m.Body) != string(first.Body)) {
				t.Fatal("reused a different secret")
			}
			if !s.reused && m.Value == first.Value {
				t.Fatal("alice's secret handed out")
			}
		})
	}
	t.Run("too little time left: a fresh secret", func(t *testing.T) {
		r.clock.Advance(600*time.Second - 60*time.Second)
		if m := mint(alice); m.Reused || m.Value == first.Value {
			t.Fatal("reused a secret with 60s left (needs more than 60s)")
		}
	})
	if r.obs.count(openai.OutcomeReused) != 1 {
		t.Errorf("reused outcomes %d", r.obs.count(openai.OutcomeReused))
	}
}

func TestTokenReuseOffByDefault(t *testing.T) {
	r := newRig(t, []string{primaryKey}, openai.Options{APIKey: primaryKey})
	p := params()
	p.User = "alice"
	a, _ := r.client.MintClientSecret(context.Background(), p)
	b, _ := r.client.MintClientSecret(context.Background(), p)
	if a == nil || b == nil || a.Value == b.Value || r.sim.Requests() != 2 {
		t.Fatal("secret reused without TOKEN_REUSE_SECONDS")
	}
}

func TestCreateCallAndHangupFailOverToTheBackup(t *testing.T) {
	r := newRig(t, []string{backupKey}, openai.Options{Keys: keyRing(t, primaryKey, backupKey)})
	call, err := r.client.CreateCall(context.Background(), offer, params())
	if err != nil {
		t.Fatalf("create call with a refused primary: %v", err)
	}
	if err := r.client.Hangup(context.Background(), call.ID); err != nil {
		t.Fatal(err)
	}
	if r.sim.Requests() != 3 || r.obs.count(openai.OutcomeKeyFailover) != 1 {
		t.Fatalf("upstream requests %d outcomes %v", r.sim.Requests(), r.obs.n)
	}
}

func TestCallerCancellationReachesTheUpstreamAndSparesTheBreaker(t *testing.T) {
	r := newRig(t, []string{primaryKey}, openai.Options{APIKey: primaryKey, Retries: 2, Timeout: time.Minute, Breaker: openai.BreakerOptions{Failures: 1, Cooldown: time.Minute}})
	r.sim.SetFault(simulator.Fault{Kind: simulator.FaultSlow, Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() { _, err := r.client.MintClientSecret(ctx, params()); errs <- err }()
	for deadline := time.Now().Add(10 * time.Second); r.sim.Requests() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the call never reached the upstream")
		}
	}
	cancel()
	err := <-errs
	if !errors.Is(err, context.Canceled) || errors.Is(err, openai.ErrTimeout) {
		t.Fatalf("err %v", err)
	}
	if r.obs.count(openai.OutcomeCanceled) != 1 || r.sim.Requests() != 1 {
		t.Fatalf("outcomes %v, upstream requests %d", r.obs.n, r.sim.Requests())
	}
	if st := r.client.Breaker().State(); st.State != openai.BreakerClosed {
		t.Fatalf("a client that left opened the breaker: %+v", st)
	}
	if q := r.client.Queue(); q.InFlight != 0 {
		t.Fatalf("slot not released: %+v", q)
	}
}

// TestNotActed: only failures where the upstream provably did nothing let
// the gateway give a user's admission back.
func TestNotActed(t *testing.T) {
	cases := []struct {
		name  string
		fault simulator.Fault
		ttl   time.Duration
		want  bool
	}{
		{"429: OpenAI does not act on it", simulator.Fault{Kind: simulator.FaultRateLimited}, 0, true},
		{"400: refused", simulator.Fault{}, 5 * time.Second, true},
		{"401: refused", simulator.Fault{Kind: simulator.FaultUnauthorized}, 0, true},
		{"500: may have acted", simulator.Fault{Kind: simulator.FaultServerError}, 0, false},
		{"503: may have acted", simulator.Fault{Kind: simulator.FaultOverloaded}, 0, false},
		{"dropped after sending: may have acted", simulator.Fault{Kind: simulator.FaultDrop}, 0, false},
		{"timeout: may have acted", simulator.Fault{Kind: simulator.FaultSlow, Delay: time.Minute}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, []string{primaryKey}, openai.Options{APIKey: primaryKey, Timeout: 200 * time.Millisecond})
			r.sim.SetFault(tc.fault)
			p := params()
			if tc.ttl > 0 {
				p.TTL = tc.ttl
			}
			_, err := r.client.MintClientSecret(context.Background(), p)
			if err == nil || openai.NotActed(err) != tc.want {
				t.Fatalf("NotActed(%v) = %v, want %v", err, openai.NotActed(err), tc.want)
			}
		})
	}
	t.Run("connection refused: nothing was sent", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c := openai.New(openai.Options{BaseURL: "http://" + addr + "/v1", APIKey: primaryKey, Timeout: 5 * time.Second})
		if _, err := c.MintClientSecret(context.Background(), params()); !openai.NotActed(err) {
			t.Fatalf("NotActed(%v) = false", err)
		}
	})
	t.Run("refused by rtgate itself (breaker open)", func(t *testing.T) {
		r := newRig(t, []string{primaryKey}, openai.Options{APIKey: primaryKey, Breaker: openai.BreakerOptions{Failures: 1, Cooldown: time.Minute}})
		r.sim.SetFault(simulator.Fault{Kind: simulator.FaultServerError})
		_, _ = r.client.MintClientSecret(context.Background(), params())
		_, err := r.client.MintClientSecret(context.Background(), params())
		if !errors.Is(err, openai.ErrUnavailable) || !openai.NotActed(err) {
			t.Fatalf("NotActed(%v) = false", err)
		}
	})
	if openai.NotActed(nil) {
		t.Fatal("NotActed(nil)")
	}
}

// TestRateLimitRetryAfterHint: OpenAI says when to come back in several
// headers; a 429's StatusError carries the wait they give, for the retry
// loop and for the client's Retry-After, and is counted as rate_limited.
func TestRateLimitRetryAfterHint(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"retry-after-ms wins", map[string]string{"retry-after-ms": "1500", "retry-after": "9"}, 1500 * time.Millisecond},
		{"retry-after in seconds", map[string]string{"retry-after": "3"}, 3 * time.Second},
		{"retry-after as an HTTP date", map[string]string{"retry-after": now.Add(10 * time.Second).Format(http.TimeFormat)}, 10 * time.Second},
		{"the exhausted limit's reset", map[string]string{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s",
			"x-ratelimit-remaining-tokens": "100", "x-ratelimit-reset-tokens": "20ms"}, 6 * time.Minute},
		{"without an exhausted limit, the sooner reset", map[string]string{"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "2s",
			"x-ratelimit-remaining-tokens": "100", "x-ratelimit-reset-tokens": "1.5s"}, 1500 * time.Millisecond},
		{"nothing usable", map[string]string{"retry-after": "soon", "x-ratelimit-reset-requests": "-4s"}, 0},
		{"none at all", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`)
			}))
			defer srv.Close()
			obs := &recorder{}
			c := openai.New(openai.Options{BaseURL: srv.URL + "/v1", APIKey: primaryKey, Timeout: 5 * time.Second, Observer: obs, Now: func() time.Time { return now }})
			defer c.CloseIdleConnections()
			_, err := c.MintClientSecret(context.Background(), params())
			var se *openai.StatusError
			if !errors.As(err, &se) || se.Status != http.StatusTooManyRequests {
				t.Fatalf("err %v", err)
			}
			if se.RetryAfter != tc.want {
				t.Errorf("RetryAfter = %v, want %v", se.RetryAfter, tc.want)
			}
			if obs.count(openai.OutcomeRateLimited) != 1 || obs.count(openai.OutcomeClientError) != 0 {
				t.Errorf("outcomes %v", obs.n)
			}
		})
	}
}
