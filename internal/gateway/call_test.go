package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/calls/callstest"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
	"github.com/rtgate/rtgate/internal/usage"
	"github.com/rtgate/rtgate/internal/users"
)

// fakeCaller stands in for OpenAI's calls endpoint. now, when set, stamps
// each successful hang-up with the injected clock's time.
type fakeCaller struct {
	mu        sync.Mutex
	n         int
	hungUp    []string
	hungUpAt  []time.Time
	attempts  int // hang-ups asked, failed ones included
	hangupErr error
	createErr error
	// onCreate, when set, runs inside CreateCall (for example to make the
	// client go away mid-request).
	onCreate func()
	now      func() time.Time
}

func (f *fakeCaller) CreateCall(ctx context.Context, _ string, _ openai.MintParams) (*openai.Call, error) {
	f.mu.Lock()
	hook := f.onCreate
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	if err := ctx.Err(); err != nil {
		return nil, err // as a real client would: the request was aborted
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		return nil, f.createErr
	}
	f.n++
	return &openai.Call{ID: fmt.Sprintf("rtc_%d", f.n), Answer: "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}, nil
}

func (f *fakeCaller) Hangup(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.hangupErr != nil {
		return f.hangupErr
	}
	f.hungUp = append(f.hungUp, id)
	if f.now != nil {
		f.hungUpAt = append(f.hungUpAt, f.now())
	}
	return nil
}

func (f *fakeCaller) hangups() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hungUp)
}

func (f *fakeCaller) set(fn func(f *fakeCaller)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeCaller) creates() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// headerAuth authenticates the user named in X-Test-User; none is anonymous.
type headerAuth struct{}

func (headerAuth) Authenticate(r *http.Request) (string, error) {
	return r.Header.Get("X-Test-User"), nil
}

const offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"

// callRig is a gateway serving the SDP proxy over a calls.Registry on the
// memory store (or the store given), with a fake clock that only the test
// moves: deadlines fire when the test advances the clock and sweeps.
type callRig struct {
	g     *Gateway
	reg   *calls.Registry
	clock *callstest.Clock
	fc    *fakeCaller
	logs  *syncBuffer
}

type rigOptions struct {
	store    calls.Store
	users    UserControls
	maxCalls int
}

func newCallRig(t testing.TB, fc *fakeCaller, max time.Duration, ro ...rigOptions) *callRig {
	t.Helper()
	var opt rigOptions
	if len(ro) > 0 {
		opt = ro[0]
	}
	if opt.store == nil {
		opt.store = calls.NewMemory()
	}
	clock := callstest.NewClock(callstest.T0)
	fc.set(func(f *fakeCaller) { f.now = clock.Now })
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	up := CallUpstreams{Realtime: fc}
	reg, err := calls.NewRegistry(calls.Options{
		Store: opt.store, Hangup: up.Hangup, OnEnded: CallEnded(opt.users), Clock: clock, Logger: log, MaxCalls: opt.maxCalls,
	})
	if err != nil {
		t.Fatal(err)
	}
	g := New(Options{
		Logger:   log,
		Resolver: peerResolver{},
		Auth:     headerAuth{},
		Users:    opt.users,
		Session:  SessionPolicy{Model: "gpt-realtime"},
		Now:      clock.Now,
		Web:      WebOptions{Upstreams: up, Calls: reg, SessionMax: max},

		MaxBodyBytes: 1024,
	})
	return &callRig{g: g, reg: reg, clock: clock, fc: fc, logs: logs}
}

// advance moves the clock by d and sweeps once, as Run would on its tick.
func (r *callRig) advance(t testing.TB, d time.Duration) {
	t.Helper()
	r.clock.Advance(d)
	if err := r.reg.Sweep(context.Background()); err != nil {
		t.Fatalf("sweep: %v", err)
	}
}

// tracked is how many calls of user the registry still tracks.
func (r *callRig) tracked(t testing.TB, user string) int {
	t.Helper()
	cs, err := r.reg.ByUser(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func serve(g *Gateway, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	return serveCtx(context.Background(), g, method, path, body, hdr...)
}

func serveCtx(ctx context.Context, g *Gateway, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:5555"
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	rec := httptest.NewRecorder()
	g.Handler().ServeHTTP(rec, req)
	return rec
}

func mustCall(t *testing.T, g *Gateway, hdr ...string) (loc, token string) {
	t.Helper()
	rec := serve(g, "POST", "/api/realtime-call", offer, append([]string{"Content-Type: application/sdp"}, hdr...)...)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	return rec.Header().Get("Location"), rec.Header().Get(CallTokenHeader)
}

func TestCallIsHungUpAtSessionMax(t *testing.T) {
	rig := newCallRig(t, &fakeCaller{}, 5*time.Minute)
	mustCall(t, rig.g, "X-Test-User: alice")

	rig.advance(t, 5*time.Minute-time.Second)
	if h := rig.fc.hangups(); len(h) != 0 {
		t.Fatalf("hung up before USER_SESSION_MAX_SECONDS: %v", h)
	}
	rig.advance(t, time.Second)
	if h := rig.fc.hangups(); !slices.Equal(h, []string{"rtc_1"}) {
		t.Fatalf("hangups at max duration = %v, want [rtc_1]", h)
	}
	if n := rig.tracked(t, "alice"); n != 0 {
		t.Fatalf("call still tracked after its end: %d", n)
	}
	if !strings.Contains(rig.logs.String(), `"reason":"max_duration"`) {
		t.Errorf("the end is not logged with its reason:\n%s", rig.logs)
	}
}

// TestSessionMaxIsDecidedOnTheInjectedClock: the registry's sweeper runs
// on the injected clock, ticker included; real time does not matter.
func TestSessionMaxIsDecidedOnTheInjectedClock(t *testing.T) {
	rig := newCallRig(t, &fakeCaller{}, 5*time.Minute)
	mustCall(t, rig.g, "X-Test-User: alice")
	deadline := callstest.T0.Add(5 * time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rig.reg.Run(ctx) }()
	defer func() { cancel(); <-done }()

	rig.clock.WaitTickers(1)
	for range 5 * 60 {
		rig.clock.Advance(time.Second)
	}
	waitFor(t, func() bool { return len(rig.fc.hangups()) == 1 })
	rig.fc.mu.Lock()
	at := rig.fc.hungUpAt[0]
	rig.fc.mu.Unlock()
	if at.Before(deadline) {
		t.Fatalf("hung up at %v on the injected clock, before the deadline %v", at, deadline)
	}
}

// waitFor polls cond until it holds, failing after a generous bound (a
// wait for an event, not a timing assertion).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatal("condition not met within 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFailedHangupAtSessionMaxIsRetriedThenGivenUp(t *testing.T) {
	rig := newCallRig(t, &fakeCaller{hangupErr: errors.New("upstream down")}, time.Minute)
	mustCall(t, rig.g, "X-Test-User: alice")
	rig.advance(t, time.Minute)
	rig.advance(t, calls.DefaultRetryDelay)
	if n := rig.tracked(t, "alice"); n != 1 {
		t.Fatalf("a call whose hangup failed is no longer tracked (%d)", n)
	}
	for range (calls.DefaultGiveUp + 2*calls.DefaultRetryDelay) / calls.DefaultRetryDelay {
		rig.advance(t, calls.DefaultRetryDelay)
	}
	if n := rig.tracked(t, "alice"); n != 0 {
		t.Fatalf("retries never give up (%d tracked)", n)
	}
	rig.fc.mu.Lock()
	defer rig.fc.mu.Unlock()
	if rig.fc.attempts < 3 {
		t.Fatalf("%d hang-up attempts; want retries", rig.fc.attempts)
	}
}

func TestHangupStopsTheDurationTimer(t *testing.T) {
	rig := newCallRig(t, &fakeCaller{}, time.Minute)
	loc, token := mustCall(t, rig.g)
	rec := serve(rig.g, "POST", loc+"/hangup", `{"call_token":"`+token+`"}`, "Content-Type: application/json")
	if rec.Code != http.StatusNoContent {
		t.Fatalf("hangup: %d %s", rec.Code, rec.Body)
	}
	rig.advance(t, 2*time.Minute)
	if h := rig.fc.hangups(); len(h) != 1 {
		t.Fatalf("hangups = %v, want exactly one", h)
	}
}

func TestAuthenticatedCallsBelongToTheirUser(t *testing.T) {
	rig := newCallRig(t, &fakeCaller{}, time.Hour)
	g := rig.g
	aliceLoc, aliceToken := mustCall(t, g, "X-Test-User: alice")
	if aliceToken != "" {
		t.Errorf("an authenticated call got a hangup token")
	}
	tests := []struct {
		name   string
		hdr    []string
		body   string
		status int
	}{
		{"another user cannot hang up alice's call", []string{"X-Test-User: bob"}, "", http.StatusNotFound},
		{"an anonymous caller cannot either", nil, "", http.StatusNotFound},
		{"nor an anonymous caller with some token", []string{"Content-Type: application/json"}, `{"call_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, http.StatusNotFound},
		{"alice can", []string{"X-Test-User: alice"}, "", http.StatusNoContent},
		{"only once", []string{"X-Test-User: alice"}, "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rec := serve(g, "POST", aliceLoc+"/hangup", tt.body, tt.hdr...); rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
		})
	}
	if h := rig.fc.hangups(); !slices.Equal(h, []string{"rtc_1"}) {
		t.Fatalf("upstream hangups = %v", h)
	}
}

// TestCallsAreHungUpOnlyThroughTheirKindsRoute: a call of another kind
// (a GPT-Live session, say) is not found under /api/realtime-call, even by
// its owner, and nothing is hung up.
func TestCallsAreHungUpOnlyThroughTheirKindsRoute(t *testing.T) {
	rig := newCallRig(t, &fakeCaller{}, time.Hour)
	c, _, err := rig.reg.Create(context.Background(), calls.NewCall{Kind: calls.KindLive, UpstreamID: "sess_1", User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if rec := serve(rig.g, "POST", "/api/realtime-call/"+c.ID+"/hangup", "", "X-Test-User: alice"); rec.Code != http.StatusNotFound {
		t.Fatalf("status %d, want 404", rec.Code)
	}
	if n := rig.tracked(t, "alice"); n != 1 || len(rig.fc.hangups()) != 0 {
		t.Fatalf("tracked %d, hang-ups %v; want the live call untouched", n, rig.fc.hangups())
	}
}

func TestEndUserEndsOnlyThatUsersCalls(t *testing.T) {
	rig := newCallRig(t, &fakeCaller{}, time.Hour)
	g, ctx := rig.g, context.Background()
	mustCall(t, g, "X-Test-User: alice") // rtc_1
	mustCall(t, g, "X-Test-User: bob")   // rtc_2
	mustCall(t, g, "X-Test-User: alice") // rtc_3
	mustCall(t, g)                       // rtc_4, anonymous

	n, err := rig.reg.EndUser(ctx, "alice", calls.ReasonOperator)
	if err != nil || n != 2 {
		t.Fatalf("EndUser(alice) = %d, %v; want 2", n, err)
	}
	h := rig.fc.hangups()
	slices.Sort(h)
	if !slices.Equal(h, []string{"rtc_1", "rtc_3"}) {
		t.Fatalf("hangups = %v", h)
	}
	if n, _ := rig.reg.EndUser(ctx, "", calls.ReasonOperator); n != 0 {
		t.Errorf("the empty user ended %d anonymous calls", n)
	}
	if n, _ := rig.reg.EndUser(ctx, "alice", calls.ReasonOperator); n != 0 {
		t.Errorf("second EndUser ended %d", n)
	}
}

func TestFailedUpstreamHangupKeepsTheCall(t *testing.T) {
	rig := newCallRig(t, &fakeCaller{hangupErr: &openai.StatusError{Status: 500}}, time.Hour)
	g := rig.g
	loc, _ := mustCall(t, g, "X-Test-User: alice")
	rec := serve(g, "POST", loc+"/hangup", "", "X-Test-User: alice")
	if rec.Code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", rec.Code)
	}
	if _, err := rig.reg.EndUser(context.Background(), "alice", calls.ReasonOperator); err == nil {
		t.Fatal("EndUser hid the upstream failure")
	}
	rig.fc.set(func(f *fakeCaller) { f.hangupErr = &openai.StatusError{Status: 404} }) // already over upstream: fine
	if rec := serve(g, "POST", loc+"/hangup", "", "X-Test-User: alice"); rec.Code != http.StatusNoContent {
		t.Fatalf("retry: status %d, want 204", rec.Code)
	}
	if n := rig.tracked(t, "alice"); n != 0 {
		t.Fatalf("%d calls tracked after an upstream 404", n)
	}
}

// countingControls counts what the pipeline asks of the user controls.
type countingControls struct {
	mu                        sync.Mutex
	admits, records, releases int
	ends                      int
	kinds                     []string
	endedRes                  []users.Reservation
}

func (c *countingControls) Admit(_ context.Context, user string) (users.Admission, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.admits++
	return users.Admission{User: user, Reservation: users.Reservation(fmt.Sprintf("res-%d", c.admits))}, nil
}

func (c *countingControls) Record(_ context.Context, _ string, _ users.Reservation, s users.Session, _ netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records++
	c.kinds = append(c.kinds, s.Kind)
	return nil
}

func (c *countingControls) End(_ context.Context, _ string, res users.Reservation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ends++
	c.endedRes = append(c.endedRes, res)
	return nil
}

// counts returns admits, records, releases and ends.
func (c *countingControls) counts() [4]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return [4]int{c.admits, c.records, c.releases, c.ends}
}

func (c *countingControls) Release(context.Context, string, users.Reservation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.releases++
	return nil
}

func (c *countingControls) AddUsage(context.Context, string, string, usage.Usage) error { return nil }

func (c *countingControls) Export(context.Context, string) (users.UserData, error) {
	return users.UserData{}, nil
}

func (c *countingControls) Erase(context.Context, string, users.ErasedBy) (users.Erasure, error) {
	return users.Erasure{}, nil
}

func TestCallAdmissionIsRecordedOrGivenBack(t *testing.T) {
	uc := &countingControls{}
	rig := newCallRig(t, &fakeCaller{}, time.Hour, rigOptions{users: uc})
	g, fc := rig.g, rig.fc
	loc, _ := mustCall(t, g, "X-Test-User: alice")
	// A 4xx: OpenAI acted on nothing, so the admission is given back.
	fc.set(func(f *fakeCaller) { f.createErr = &openai.StatusError{Status: 400} })
	if rec := serve(g, "POST", "/api/realtime-call", offer, "Content-Type: application/sdp", "X-Test-User: alice"); rec.Code != http.StatusBadGateway {
		t.Fatalf("upstream failure: status %d", rec.Code)
	}
	if rec := serve(g, "POST", "/api/realtime-call", "not sdp", "Content-Type: application/sdp", "X-Test-User: alice"); rec.Code != http.StatusBadRequest {
		t.Fatalf("bad offer: status %d", rec.Code)
	}
	uc.mu.Lock()
	if uc.admits != 2 || uc.records != 1 || uc.releases != 1 || uc.ends != 0 || !slices.Equal(uc.kinds, []string{"call"}) {
		t.Fatalf("admits %d, records %d (%v), releases %d, ends %d; want 2, 1 call, 1, 0 (a bad offer is refused before admission)", uc.admits, uc.records, uc.kinds, uc.releases, uc.ends)
	}
	uc.mu.Unlock()
	// A 5xx may have made a call upstream: the admission counts.
	fc.set(func(f *fakeCaller) { f.createErr = &openai.StatusError{Status: 500} })
	if rec := serve(g, "POST", "/api/realtime-call", offer, "Content-Type: application/sdp", "X-Test-User: alice"); rec.Code != http.StatusBadGateway {
		t.Fatalf("upstream 500: status %d", rec.Code)
	}
	if c := uc.counts(); c != [4]int{3, 1, 1, 0} {
		t.Fatalf("after an upstream 500: admits, records, releases, ends = %v; want the admission kept", c)
	}
	// Hanging up frees the call's active slot: its own reservation.
	if rec := serve(g, "POST", loc+"/hangup", "", "X-Test-User: alice"); rec.Code != http.StatusNoContent {
		t.Fatalf("hangup: %d %s", rec.Code, rec.Body)
	}
	uc.mu.Lock()
	defer uc.mu.Unlock()
	if uc.ends != 1 || uc.endedRes[0] != "res-1" {
		t.Fatalf("ends after hangup = %d (%v), want 1 of res-1", uc.ends, uc.endedRes)
	}
}

// TestUpstreamActed: the admission of a failed create is given back only
// when the upstream provably did not act.
func TestUpstreamActed(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	read := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	tests := []struct {
		name  string
		err   error
		acted bool
	}{
		{"queue full: never sent", &openai.UnavailableError{Reason: openai.OutcomeQueueFull}, false},
		{"breaker open: never sent", fmt.Errorf("x: %w", openai.ErrUnavailable), false},
		{"dial refused: never sent", fmt.Errorf("upstream request: %w", &url.Error{Op: "Post", URL: "http://x", Err: dial}), false},
		{"400", &openai.StatusError{Status: 400}, false},
		{"429: OpenAI acts on nothing it throttles", &openai.StatusError{Status: 429}, false},
		{"401 with both keys", &openai.StatusError{Status: 401}, false},
		{"500 may have acted", &openai.StatusError{Status: 500}, true},
		{"502 may have acted", &openai.StatusError{Status: 502}, true},
		{"timeout may have acted", fmt.Errorf("%w: deadline", openai.ErrTimeout), true},
		{"reset after sending may have acted", fmt.Errorf("upstream request: %w", &url.Error{Op: "Post", URL: "http://x", Err: read}), true},
		{"malformed 2xx acted", fmt.Errorf("%w: no call id", openai.ErrBadResponse), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := upstreamActed(tt.err); got != tt.acted {
				t.Fatalf("upstreamActed(%v) = %v, want %v", tt.err, got, tt.acted)
			}
		})
	}
}

// TestClientGoneMidCreate (issue 11): a client that goes away while the
// upstream creates its call does not get its admission back, the call is
// recorded, tracked and (since nobody can connect to it now) ended at once,
// which frees its slot; the request is logged as a client abort, not as an
// upstream error. If the upstream failed meanwhile, the admission is given
// back only when the upstream provably did not act.
func TestClientGoneMidCreate(t *testing.T) {
	tests := []struct {
		name      string
		createErr error
		counts    [4]int // admits, records, releases, ends
		creates   int
		hangups   []string
	}{
		{"the call was made", nil, [4]int{1, 1, 0, 1}, 1, []string{"rtc_1"}},
		{"the upstream failed with a 5xx", &openai.StatusError{Status: 503}, [4]int{1, 0, 0, 0}, 0, nil},
		{"the upstream refused with a 4xx", &openai.StatusError{Status: 400}, [4]int{1, 0, 1, 0}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uc := &countingControls{}
			rig := newCallRig(t, &fakeCaller{createErr: tt.createErr}, time.Hour, rigOptions{users: uc})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rig.fc.set(func(f *fakeCaller) { f.onCreate = cancel }) // the client leaves mid-create
			rec := serveCtx(ctx, rig.g, "POST", "/api/realtime-call", offer, "Content-Type: application/sdp", "X-Test-User: alice")
			if rec.Code != statusClientClosed {
				t.Fatalf("status %d, want %d (client abort)", rec.Code, statusClientClosed)
			}
			if c := uc.counts(); c != tt.counts {
				t.Fatalf("admits, records, releases, ends = %v; want %v", c, tt.counts)
			}
			if rig.fc.creates() != tt.creates || !slices.Equal(rig.fc.hangups(), tt.hangups) {
				t.Fatalf("upstream creates %d, hang-ups %v; want %d, %v", rig.fc.creates(), rig.fc.hangups(), tt.creates, tt.hangups)
			}
			if n := rig.tracked(t, "alice"); n != 0 {
				t.Fatalf("%d calls still tracked", n)
			}
			logs := rig.logs.String()
			if !strings.Contains(logs, `"status":499`) || strings.Contains(logs, `"status":502`) || strings.Contains(logs, `"code":"upstream_error"`) {
				t.Fatalf("not logged as a client abort:\n%s", logs)
			}
			if tt.createErr == nil && !strings.Contains(logs, `"reason":"client_gone"`) {
				t.Fatalf("the call's end is not logged with reason client_gone:\n%s", logs)
			}
		})
	}
}

// failingStore is a calls.Store whose operations fail while down is set.
type failingStore struct {
	calls.Store
	down   atomic.Bool
	addErr atomic.Bool // only Add fails
}

var errStoreDown = errors.New("redis: connection refused")

func (s *failingStore) Count(ctx context.Context) (int, error) {
	if s.down.Load() {
		return 0, errStoreDown
	}
	return s.Store.Count(ctx)
}

func (s *failingStore) Add(ctx context.Context, c calls.Call, now time.Time) error {
	if s.down.Load() || s.addErr.Load() {
		return errStoreDown
	}
	return s.Store.Add(ctx, c, now)
}

func (s *failingStore) Get(ctx context.Context, id string) (calls.Call, error) {
	if s.down.Load() {
		return calls.Call{}, errStoreDown
	}
	return s.Store.Get(ctx, id)
}

// TestCallRegistryRefusals: a full or unreachable registry refuses a
// create before admission and before the upstream (503, generic); a call
// the registry fails to track after the upstream made it is hung up at
// once, its slot freed; a hang-up while the store is down is a 503.
func TestCallRegistryRefusals(t *testing.T) {
	refused := func(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
		t.Helper()
		if rec.Code != status || !strings.Contains(rec.Body.String(), `"code":"`+code+`"`) {
			t.Fatalf("status %d %s; want %d %s", rec.Code, rec.Body, status, code)
		}
		for _, leak := range []string{"redis", "rtc_", "refused", "calls:"} {
			if strings.Contains(rec.Body.String(), leak) {
				t.Errorf("response names %q: %s", leak, rec.Body)
			}
		}
	}
	t.Run("full", func(t *testing.T) {
		uc := &countingControls{}
		rig := newCallRig(t, &fakeCaller{}, time.Hour, rigOptions{users: uc, maxCalls: 1})
		mustCall(t, rig.g, "X-Test-User: alice")
		rec := serve(rig.g, "POST", "/api/realtime-call", offer, "Content-Type: application/sdp", "X-Test-User: bob")
		refused(t, rec, http.StatusServiceUnavailable, httpx.CodeUnavailable)
		if rig.fc.creates() != 1 || uc.counts()[0] != 1 {
			t.Fatalf("upstream creates %d, admits %d; want the refusal before both", rig.fc.creates(), uc.counts()[0])
		}
	})
	t.Run("store down before the upstream", func(t *testing.T) {
		uc := &countingControls{}
		fs := &failingStore{Store: calls.NewMemory()}
		rig := newCallRig(t, &fakeCaller{}, time.Hour, rigOptions{users: uc, store: fs})
		fs.down.Store(true)
		rec := serve(rig.g, "POST", "/api/realtime-call", offer, "Content-Type: application/sdp", "X-Test-User: alice")
		refused(t, rec, http.StatusServiceUnavailable, httpx.CodeUnavailable)
		if rig.fc.creates() != 0 || uc.counts()[0] != 0 {
			t.Fatalf("upstream creates %d, admits %d; want none", rig.fc.creates(), uc.counts()[0])
		}
	})
	t.Run("store fails to track a call the upstream made", func(t *testing.T) {
		uc := &countingControls{}
		fs := &failingStore{Store: calls.NewMemory()}
		rig := newCallRig(t, &fakeCaller{}, time.Hour, rigOptions{users: uc, store: fs})
		fs.addErr.Store(true)
		rec := serve(rig.g, "POST", "/api/realtime-call", offer, "Content-Type: application/sdp", "X-Test-User: alice")
		refused(t, rec, http.StatusServiceUnavailable, httpx.CodeUnavailable)
		if h := rig.fc.hangups(); !slices.Equal(h, []string{"rtc_1"}) {
			t.Fatalf("hang-ups %v; want the untracked call hung up", h)
		}
		if c := uc.counts(); c != [4]int{1, 1, 0, 1} {
			t.Fatalf("admits, records, releases, ends = %v; want the admission counted and the slot freed", c)
		}
	})
	t.Run("store down on hang-up", func(t *testing.T) {
		fs := &failingStore{Store: calls.NewMemory()}
		rig := newCallRig(t, &fakeCaller{}, time.Hour, rigOptions{store: fs})
		loc, _ := mustCall(t, rig.g, "X-Test-User: alice")
		fs.down.Store(true)
		rec := serve(rig.g, "POST", loc+"/hangup", "", "X-Test-User: alice")
		refused(t, rec, http.StatusServiceUnavailable, httpx.CodeUnavailable)
		if len(rig.fc.hangups()) != 0 {
			t.Fatal("hung up without an ownership check")
		}
	})
}

func TestCallRoutesNeedACaller(t *testing.T) {
	reg, err := calls.NewRegistry(calls.Options{Store: calls.NewMemory(), Hangup: CallUpstreams{}.Hangup})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []WebOptions{{}, {Calls: reg}, {Upstreams: CallUpstreams{Realtime: &fakeCaller{}}}} {
		g := New(Options{Resolver: peerResolver{}, Upstream: panickingUpstream{}, Web: w})
		rec := serve(g, "POST", "/api/realtime-call", offer, "Content-Type: application/sdp")
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), httpx.CodeNotFound) {
			t.Fatalf("status %d %s, want 404 without a Caller and a registry", rec.Code, rec.Body)
		}
	}
}

func TestCheckSDPOffer(t *testing.T) {
	tests := []struct {
		name, sdp string
		ok        bool
	}{
		{"minimal offer", offer, true},
		{"LF line endings", strings.ReplaceAll(offer, "\r\n", "\n"), true},
		{"trailing blank line", offer + "\r\n", true},
		{"empty", "", false},
		{"leading space", " " + offer, false},
		{"v=1", strings.Replace(offer, "v=0", "v=1", 1), false},
		{"no o= line", "v=0\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\n", false},
		{"no m= line", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n", false},
		{"NUL byte", offer + "a=x\x00\r\n", false},
		{"escape character", offer + "a=\x1b[31m\r\n", false},
		{"DEL", offer + "a=\x7f\r\n", false},
		{"invalid UTF-8", offer + "a=\xc3\x28\r\n", false},
		{"upper-case type", offer + "A=x\r\n", false},
		{"line without =", offer + "hello\r\n", false},
		{"content after a blank line", offer + "\r\na=x\r\n", false},
		{"too many m= sections", offer + strings.Repeat("m=audio 9 RTP/AVP 0\r\n", 16), false},
		{"too many lines", offer + strings.Repeat("a=x\r\n", 1000), false},
		{"UTF-8 in a value", offer + "a=x-name:Zoë\r\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckSDPOffer([]byte(tt.sdp)); (err == nil) != tt.ok {
				t.Fatalf("CheckSDPOffer = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func FuzzCheckSDPOffer(f *testing.F) {
	f.Add([]byte(offer))
	f.Add([]byte("v=0\nm=\n"))
	f.Add([]byte("v=0\r\no=\r\nm=audio\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if CheckSDPOffer(b) != nil {
			return
		}
		s := string(b)
		if !strings.HasPrefix(s, "v=0") || !strings.Contains(s, "m=") || strings.ContainsRune(s, 0) {
			t.Fatalf("accepted %q", s)
		}
	})
}

// benchRegistries are the registries the call benchmarks compare: a
// baseline that keeps nothing (so the difference is the registry's cost),
// the memory store, and a local redis-server.
var benchRegistries = []struct {
	name  string
	store func(b *testing.B) calls.Store
}{
	{"baseline", nil},
	{"memory", func(*testing.B) calls.Store { return calls.NewMemory() }},
	{"redis", func(b *testing.B) calls.Store {
		srv := redistest.Start(b)
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		b.Cleanup(func() { _ = c.Close() })
		return calls.NewRedis(c, "bench:c:")
	}},
}

func benchGateway(b *testing.B, store func(b *testing.B) calls.Store) *Gateway {
	if store == nil {
		g := newCallRig(b, &fakeCaller{}, time.Hour).g
		g.o.Web.Calls = &nopRegistry{}
		return g
	}
	return newCallRig(b, &fakeCaller{}, time.Hour, rigOptions{store: store(b), maxCalls: 1 << 30}).g
}

// BenchmarkCallCreate runs one SDP offer through the whole chain
// (middlewares, SDP checks, capacity check, registry, response) with a
// canned upstream; the calls stay tracked.
func BenchmarkCallCreate(b *testing.B) {
	for _, bc := range benchRegistries {
		b.Run(bc.name, func(b *testing.B) {
			g := benchGateway(b, bc.store)
			b.ReportAllocs()
			for b.Loop() {
				if rec := serve(g, "POST", "/api/realtime-call", offer, "Content-Type: application/sdp"); rec.Code != http.StatusCreated {
					b.Fatalf("create: %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkCallPipeline runs one SDP offer and its hangup through the whole
// chain (middlewares, SDP checks, registry, ownership check) with a canned
// upstream.
func BenchmarkCallPipeline(b *testing.B) {
	for _, bc := range benchRegistries {
		b.Run(bc.name, func(b *testing.B) {
			g := benchGateway(b, bc.store)
			b.ReportAllocs()
			for b.Loop() {
				rec := serve(g, "POST", "/api/realtime-call", offer, "Content-Type: application/sdp")
				if rec.Code != http.StatusCreated {
					b.Fatalf("create: %d", rec.Code)
				}
				loc, token := rec.Header().Get("Location"), rec.Header().Get(CallTokenHeader)
				if rec := serve(g, "POST", loc+"/hangup", `{"call_token":"`+token+`"}`, "Content-Type: application/json"); rec.Code != http.StatusNoContent {
					b.Fatalf("hangup: %d", rec.Code)
				}
			}
		})
	}
}

// nopRegistry tracks one call at a time in a variable: the baseline of
// BenchmarkCallPipeline, without the registry's work.
type nopRegistry struct{ c calls.Call }

func (*nopRegistry) CheckCapacity(context.Context) error { return nil }

func (n *nopRegistry) Create(_ context.Context, nc calls.NewCall) (calls.Call, string, error) {
	n.c = calls.Call{ID: "call_AAAAAAAAAAAAAAAAAAAAAA", Kind: nc.Kind, UpstreamID: nc.UpstreamID, TokenHash: calls.HashToken("t")}
	return n.c, "t", nil
}

func (n *nopRegistry) Lookup(context.Context, string) (calls.Call, error) { return n.c, nil }

func (*nopRegistry) End(context.Context, string, string) error { return nil }

// BenchmarkCheckSDPOffer checks an offer the size of Chromium's (audio,
// data channel, a dozen codecs and candidates: about 4 KB).
func BenchmarkCheckSDPOffer(b *testing.B) {
	big := []byte(offer + strings.Repeat("a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=candidate:1 1 udp 2113937151 127.0.0.1 54321 typ host generation 0\r\n", 20))
	b.SetBytes(int64(len(big)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := CheckSDPOffer(big); err != nil {
			b.Fatal(err)
		}
	}
}
