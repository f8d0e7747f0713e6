package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/users"
)

// fakeCaller stands in for OpenAI's calls endpoint.
type fakeCaller struct {
	mu        sync.Mutex
	n         int
	hungUp    []string
	hangupErr error
	createErr error
}

func (f *fakeCaller) CreateCall(_ context.Context, _ string, _ openai.MintParams) (*openai.Call, error) {
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
	if f.hangupErr != nil {
		return f.hangupErr
	}
	f.hungUp = append(f.hungUp, id)
	return nil
}

func (f *fakeCaller) hangups() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hungUp)
}

// headerAuth authenticates the user named in X-Test-User; none is anonymous.
type headerAuth struct{}

func (headerAuth) Authenticate(r *http.Request) (string, error) {
	return r.Header.Get("X-Test-User"), nil
}

const offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"

func newCallGateway(c Caller, max time.Duration) *Gateway {
	return New(Options{
		Resolver: peerResolver{},
		Auth:     headerAuth{},
		Session:  SessionPolicy{Model: "gpt-realtime"},
		Web:      WebOptions{Caller: c, SessionMax: max},

		MaxBodyBytes: 1024,
	})
}

func serve(g *Gateway, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
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
	synctest.Test(t, func(t *testing.T) {
		fc := &fakeCaller{}
		g := newCallGateway(fc, 5*time.Minute)
		mustCall(t, g, "X-Test-User: alice")

		time.Sleep(5*time.Minute - time.Second)
		synctest.Wait()
		if h := fc.hangups(); len(h) != 0 {
			t.Fatalf("hung up before USER_SESSION_MAX_SECONDS: %v", h)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if h := fc.hangups(); !slices.Equal(h, []string{"rtc_1"}) {
			t.Fatalf("hangups at max duration = %v, want [rtc_1]", h)
		}
		if n := len(g.o.Web.calls.byUser("alice")); n != 0 {
			t.Fatalf("call still tracked after its end: %d", n)
		}
	})
}

func TestSessionMaxIsDecidedOnTheInjectedClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := &fakeCaller{}
		var lag atomic.Int64
		g := New(Options{
			Resolver: peerResolver{}, Auth: headerAuth{}, Session: SessionPolicy{Model: "m"},
			Now: func() time.Time { return time.Now().Add(-time.Duration(lag.Load())) },
			Web: WebOptions{Caller: fc, SessionMax: 5 * time.Minute},
		})
		mustCall(t, g, "X-Test-User: alice")
		// The injected clock falls a minute behind: when the timer fires it
		// sees the deadline not yet reached and waits for the rest.
		lag.Store(int64(time.Minute))
		time.Sleep(6*time.Minute - time.Second)
		synctest.Wait()
		if len(fc.hangups()) != 0 {
			t.Fatal("hung up before the injected clock reached the deadline")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if len(fc.hangups()) != 1 {
			t.Fatalf("hangups = %v, want one at the injected deadline", fc.hangups())
		}
	})
}

func TestFailedHangupAtSessionMaxIsRetriedThenGivenUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := &fakeCaller{hangupErr: errors.New("upstream down")}
		g := newCallGateway(fc, time.Minute)
		mustCall(t, g, "X-Test-User: alice")
		time.Sleep(time.Minute + retryDelay)
		synctest.Wait()
		if n := len(g.o.Web.calls.byUser("alice")); n != 1 {
			t.Fatalf("a call whose hangup failed is no longer tracked (%d)", n)
		}
		time.Sleep(retryGiveUp + 2*retryDelay)
		synctest.Wait()
		if n := len(g.o.Web.calls.byUser("alice")); n != 0 {
			t.Fatalf("retries never give up (%d tracked)", n)
		}
	})
}

func TestHangupStopsTheDurationTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := &fakeCaller{}
		g := newCallGateway(fc, time.Minute)
		loc, token := mustCall(t, g)
		rec := serve(g, "POST", loc+"/hangup", `{"call_token":"`+token+`"}`, "Content-Type: application/json")
		if rec.Code != http.StatusNoContent {
			t.Fatalf("hangup: %d %s", rec.Code, rec.Body)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if h := fc.hangups(); len(h) != 1 {
			t.Fatalf("hangups = %v, want exactly one", h)
		}
	})
}

func TestAuthenticatedCallsBelongToTheirUser(t *testing.T) {
	fc := &fakeCaller{}
	g := newCallGateway(fc, time.Hour)
	aliceLoc, aliceToken := mustCall(t, g, "X-Test-User: alice")
	if aliceToken != "" {
		t.Errorf("an authenticated call got a hangup token")
	}
	tests := []struct {
		name   string
		hdr    []string
		status int
	}{
		{"another user cannot hang up alice's call", []string{"X-Test-User: bob"}, http.StatusNotFound},
		{"an anonymous caller cannot either", nil, http.StatusNotFound},
		{"alice can", []string{"X-Test-User: alice"}, http.StatusNoContent},
		{"only once", []string{"X-Test-User: alice"}, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rec := serve(g, "POST", aliceLoc+"/hangup", "", tt.hdr...); rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
		})
	}
	if h := fc.hangups(); !slices.Equal(h, []string{"rtc_1"}) {
		t.Fatalf("upstream hangups = %v", h)
	}
}

func TestEndUserEndsOnlyThatUsersCalls(t *testing.T) {
	fc := &fakeCaller{}
	g := newCallGateway(fc, time.Hour)
	mustCall(t, g, "X-Test-User: alice") // rtc_1
	mustCall(t, g, "X-Test-User: bob")   // rtc_2
	mustCall(t, g, "X-Test-User: alice") // rtc_3
	mustCall(t, g)                       // rtc_4, anonymous

	n, err := g.EndUser(context.Background(), "alice")
	if err != nil || n != 2 {
		t.Fatalf("EndUser(alice) = %d, %v; want 2", n, err)
	}
	h := fc.hangups()
	slices.Sort(h)
	if !slices.Equal(h, []string{"rtc_1", "rtc_3"}) {
		t.Fatalf("hangups = %v", h)
	}
	if n, _ := g.EndUser(context.Background(), ""); n != 0 {
		t.Errorf("the empty user ended %d anonymous calls", n)
	}
	if n, _ := g.EndUser(context.Background(), "alice"); n != 0 {
		t.Errorf("second EndUser ended %d", n)
	}
}

func TestFailedUpstreamHangupKeepsTheCall(t *testing.T) {
	fc := &fakeCaller{hangupErr: &openai.StatusError{Status: 500}}
	g := newCallGateway(fc, time.Hour)
	loc, _ := mustCall(t, g, "X-Test-User: alice")
	rec := serve(g, "POST", loc+"/hangup", "", "X-Test-User: alice")
	if rec.Code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", rec.Code)
	}
	if _, err := g.EndUser(context.Background(), "alice"); err == nil {
		t.Fatal("EndUser hid the upstream failure")
	}
	fc.mu.Lock()
	fc.hangupErr = &openai.StatusError{Status: 404} // already over upstream: fine
	fc.mu.Unlock()
	if rec := serve(g, "POST", loc+"/hangup", "", "X-Test-User: alice"); rec.Code != http.StatusNoContent {
		t.Fatalf("retry: status %d, want 204", rec.Code)
	}
}

// countingControls counts what the pipeline asks of the user controls.
type countingControls struct {
	mu                        sync.Mutex
	admits, records, releases int
	ends                      int
	kinds                     []string
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

func (c *countingControls) End(context.Context, string, users.Reservation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ends++
	return nil
}

func (c *countingControls) Release(context.Context, string, users.Reservation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.releases++
	return nil
}

func (c *countingControls) Export(context.Context, string) (users.UserData, error) {
	return users.UserData{}, nil
}

func (c *countingControls) Erase(context.Context, string, users.ErasedBy) (users.Erasure, error) {
	return users.Erasure{}, nil
}

func TestCallAdmissionIsRecordedOrGivenBack(t *testing.T) {
	fc := &fakeCaller{}
	uc := &countingControls{}
	g := New(Options{Resolver: peerResolver{}, Auth: headerAuth{}, Users: uc, Session: SessionPolicy{Model: "m"}, Web: WebOptions{Caller: fc}})
	loc, _ := mustCall(t, g, "X-Test-User: alice")
	fc.mu.Lock()
	fc.createErr = &openai.StatusError{Status: 500}
	fc.mu.Unlock()
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
	// Hanging up frees the call's active slot.
	if rec := serve(g, "POST", loc+"/hangup", "", "X-Test-User: alice"); rec.Code != http.StatusNoContent {
		t.Fatalf("hangup: %d %s", rec.Code, rec.Body)
	}
	uc.mu.Lock()
	defer uc.mu.Unlock()
	if uc.ends != 1 {
		t.Fatalf("ends after hangup = %d, want 1", uc.ends)
	}
}

func TestCallRoutesNeedACaller(t *testing.T) {
	g := New(Options{Resolver: peerResolver{}, Upstream: panickingUpstream{}})
	rec := serve(g, "POST", "/api/realtime-call", offer, "Content-Type: application/sdp")
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), httpx.CodeNotFound) {
		t.Fatalf("status %d %s, want 404 without a Caller", rec.Code, rec.Body)
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

// BenchmarkCallPipeline runs one SDP offer and its hangup through the whole
// chain (middlewares, SDP checks, tracking, timer, ownership check) with a
// canned upstream.
func BenchmarkCallPipeline(b *testing.B) {
	g := newCallGateway(&fakeCaller{}, time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := serve(g, "POST", "/api/realtime-call", offer, "Content-Type: application/sdp")
		if rec.Code != http.StatusCreated {
			b.Fatalf("create: %d", rec.Code)
		}
		loc, token := rec.Header().Get("Location"), rec.Header().Get(CallTokenHeader)
		if rec := serve(g, "POST", loc+"/hangup", `{"call_token":"`+token+`"}`, "Content-Type: application/json"); rec.Code != http.StatusNoContent {
			b.Fatalf("hangup: %d", rec.Code)
		}
	}
}

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
