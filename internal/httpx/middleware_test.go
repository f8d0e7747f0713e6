package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rtgate/rtgate/internal/reqctx"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// referenceErrorBody is what WriteError wrote before its body was assembled
// from precomputed parts: encoding/json's output and a newline.
func referenceErrorBody(code, msg, rid string) string {
	b, err := json.Marshal(errorBody{Error: errorFields{Code: code, Message: msg, RequestID: rid}})
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

func withID(r *http.Request, id string) *http.Request {
	return r.WithContext(&stateCtx{Context: r.Context(), s: state{Values: reqctx.Values{RequestID: id}}})
}

func TestWriteErrorIsWhatEncodingJSONWrites(t *testing.T) {
	ids := []string{"0123456789abcdefghjkmnpqrs", "req-123_abc.DEF", "", `a"b`, "<script>&", "zé", "\x00\x1f", "\xff\xfe", "\u2028"}
	var errs []*Error
	for code := range defaultMessages {
		errs = append(errs, Errorf(400, code, nil))
	}
	errs = append(errs,
		BadRequest("The requested voice is not allowed.", nil),
		&Error{Status: 403, Code: CodeForbidden, Message: "HTTPS is required."},
		&Error{Status: 400, Code: CodeBadRequest, Message: `odd "quoted" <message> & more`},
		&Error{Status: 400, Code: "made_up_code"},
		&Error{Status: 400, Code: CodeBadRequest, Message: "ünïcode\tand\u2029separators"},
	)
	for _, e := range errs {
		for _, id := range ids {
			w := httptest.NewRecorder()
			WriteError(w, withID(httptest.NewRequest("GET", "/", nil), id), nil, e)
			msg := e.Message
			if msg == "" {
				msg = defaultMessages[e.Code]
			}
			if want := referenceErrorBody(e.Code, msg, id); w.Body.String() != want {
				t.Errorf("code %q message %q id %q:\n got %q\nwant %q", e.Code, e.Message, id, w.Body.String(), want)
			}
			if got := w.Header().Get("Content-Length"); got != strconv.Itoa(w.Body.Len()) {
				t.Errorf("Content-Length %q for %d bytes", got, w.Body.Len())
			}
		}
	}
}

func FuzzWriteErrorBody(f *testing.F) {
	f.Add("The request is invalid.", "abc")
	f.Add(`"\<>&`, "\xff")
	f.Fuzz(func(t *testing.T, msg, id string) {
		w := httptest.NewRecorder()
		WriteError(w, withID(httptest.NewRequest("GET", "/", nil), id), nil, BadRequest(msg, nil))
		want := referenceErrorBody(CodeBadRequest, msg, id)
		if msg == "" {
			want = referenceErrorBody(CodeBadRequest, defaultMessages[CodeBadRequest], id)
		}
		if w.Body.String() != want {
			t.Fatalf("got %q want %q", w.Body.String(), want)
		}
	})
}

func TestWriteErrorHeadersAndStatus(t *testing.T) {
	e := Errorf(http.StatusTooManyRequests, CodeRateLimited, errors.New("ip rate limit"))
	e.RetryAfter = 1500 * time.Millisecond
	e.Header = http.Header{"Allow": {"GET, POST"}}
	for range 2 { // the second response reuses the shared values
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest("GET", "/", nil), nil, e)
		want := http.Header{
			"Allow":          {"GET, POST"},
			"Retry-After":    {"2"},
			"Content-Type":   {"application/json; charset=utf-8"},
			"Cache-Control":  {"no-store"},
			"Content-Length": {strconv.Itoa(w.Body.Len())},
		}
		if w.Code != 429 || !reflect.DeepEqual(w.Header(), want) {
			t.Fatalf("status %d headers %v; want 429 %v", w.Code, w.Header(), want)
		}
	}
	w := httptest.NewRecorder()
	WriteError(w, httptest.NewRequest("GET", "/", nil), nil, errors.New("not an *Error"))
	if w.Code != 500 || !strings.Contains(w.Body.String(), `"code":"internal"`) {
		t.Fatalf("plain error: %d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	WriteError(w, httptest.NewRequest("GET", "/", nil), nil, fmt.Errorf("wrapped: %w", Errorf(404, CodeNotFound, nil)))
	if w.Code != 404 {
		t.Fatalf("wrapped *Error: %d", w.Code)
	}
}

// logLines decodes every JSON line a logger wrote.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

func TestWriteErrorLogsTheRefusal(t *testing.T) {
	for _, tc := range []struct {
		err   *Error
		level string
		cause any
	}{
		{Errorf(429, CodeRateLimited, errors.New("ip rate limit")), "INFO", "ip rate limit"},
		{Errorf(502, CodeUpstreamError, errors.New("upstream said no")), "ERROR", "upstream said no"},
		{Errorf(404, CodeNotFound, nil), "INFO", nil},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		WriteError(httptest.NewRecorder(), withID(httptest.NewRequest("GET", "/", nil), "rid-1"), log, tc.err)
		lines := logLines(t, &buf)
		if len(lines) != 1 {
			t.Fatalf("%d log lines", len(lines))
		}
		l := lines[0]
		if l["msg"] != "request refused" || l["level"] != tc.level || l["request_id"] != "rid-1" ||
			l["status"] != float64(tc.err.Status) || l["code"] != tc.err.Code || l["cause"] != tc.cause {
			t.Errorf("log line %v", l)
		}
		if _, ok := l["cause"]; tc.cause == nil && ok {
			t.Errorf("cause logged for an error without one: %v", l)
		}
	}
}

// TestRefusalIsOnTheAccessLine: inside the access log, a refusal costs one
// line (the access line, with code, scope and cause); a 5xx keeps its
// error-level line for alerts as well.
func TestRefusalIsOnTheAccessLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		lines []map[string]any // after the access line's base fields
	}{
		{"429 with scope and cause", &Error{Status: 429, Code: CodeRateLimited, Scope: "ip", Err: errors.New("ip rate limit")},
			[]map[string]any{{"msg": "request", "level": "INFO", "status": float64(429), "code": "rate_limited", "scope": "ip", "cause": "ip rate limit"}}},
		{"404 without a cause", Errorf(404, CodeNotFound, nil),
			[]map[string]any{{"msg": "request", "level": "INFO", "status": float64(404), "code": "not_found"}}},
		{"502 keeps its error line", Errorf(502, CodeUpstreamError, errors.New("upstream said no")),
			[]map[string]any{
				{"msg": "request refused", "level": "ERROR", "status": float64(502), "code": "upstream_error", "cause": "upstream said no"},
				{"msg": "request", "level": "INFO", "status": float64(502), "code": "upstream_error", "cause": "upstream said no"},
			}},
		{"not an *Error is a 500", errors.New("boom"),
			[]map[string]any{
				{"msg": "request refused", "level": "ERROR", "status": float64(500), "code": "internal", "cause": "boom"},
				{"msg": "request", "level": "INFO", "status": float64(500), "code": "internal", "cause": "boom"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, nil))
			h := chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { WriteError(w, r, log, tc.err) }), log, time.Now)
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set(RequestIDHeader, "rid-7")
			h.ServeHTTP(httptest.NewRecorder(), req)
			lines := logLines(t, &buf)
			if len(lines) != len(tc.lines) {
				t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(tc.lines), buf.String())
			}
			for i, want := range tc.lines {
				got := lines[i]
				if got["request_id"] != "rid-7" {
					t.Errorf("line %d: request_id %v", i, got["request_id"])
				}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("line %d: %s = %v, want %v (%v)", i, k, got[k], v, got)
					}
				}
				for _, k := range []string{"scope", "cause"} {
					if _, ok := want[k]; !ok {
						if _, logged := got[k]; logged {
							t.Errorf("line %d: %s logged: %v", i, k, got)
						}
					}
				}
			}
		})
	}
}

type fixedResolver netip.Addr

func (f fixedResolver) ClientIP(*http.Request) (netip.Addr, error) { return netip.Addr(f), nil }

// chain is the gateway's order of the httpx middlewares around h.
func chain(h http.Handler, log *slog.Logger, now func() time.Time) http.Handler {
	return Chain(WithRoute(h),
		RequestIDs,
		Secure,
		AccessLog(log, nil, now),
		Recover(log),
		WithClientIP(fixedResolver(netip.MustParseAddr("203.0.113.7")), log),
		NewCORS([]string{"https://app.example.com"}, log).Middleware,
	)
}

func TestAccessLogLine(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	calls := 0
	now := func() time.Time { calls++; return t0.Add(time.Duration(calls) * 1500 * time.Microsecond) }
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/x", func(w http.ResponseWriter, r *http.Request) { WriteRawJSON(w, 201, []byte(`{"ok":true}`)) })
	h := chain(mux, log, now)
	req := httptest.NewRequest("GET", "/api/x?secret=1", nil)
	req.Header.Set(RequestIDHeader, "abc-123")
	h.ServeHTTP(httptest.NewRecorder(), req)
	lines := logLines(t, &buf)
	if len(lines) != 1 {
		t.Fatalf("%d log lines: %s", len(lines), buf.String())
	}
	got := lines[0]
	delete(got, "time")
	want := map[string]any{
		"level": "INFO", "msg": "request", "method": "GET", "path": "/api/x", "route": "GET /api/x",
		"status": float64(201), "bytes": float64(12), "duration_ms": 1.5, "client_ip": "203.0.113.7", "request_id": "abc-123",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("access log\n got %v\nwant %v", got, want)
	}
	if strings.Contains(buf.String(), "secret") {
		t.Fatal("the query string was logged")
	}
}

// TestSharedHeaderValuesStayIntact: the fixed header values are shared by
// every response, so a handler that adds to or replaces them must not
// change what the next response gets.
func TestSharedHeaderValuesStayIntact(t *testing.T) {
	h := chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Add("Vary", "Accept-Encoding")
		hd.Add("X-Frame-Options", "SAMEORIGIN")
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src data:")
		WriteError(w, r, nil, BadRequest("nope", nil))
	}), slog.New(slog.DiscardHandler), time.Now)
	for i := range 3 {
		req := httptest.NewRequest("POST", "/", nil)
		req.Header.Set("Origin", "https://app.example.com")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		got := w.Header()
		if v := got.Values("Vary"); !reflect.DeepEqual(v, []string{"Origin", "Accept-Encoding"}) {
			t.Fatalf("response %d: Vary %q", i, v)
		}
		if v := got.Values("X-Frame-Options"); !reflect.DeepEqual(v, []string{"DENY", "SAMEORIGIN"}) {
			t.Fatalf("response %d: X-Frame-Options %q", i, v)
		}
		if v := got.Get("Content-Security-Policy"); v != "default-src 'self'; img-src data:" {
			t.Fatalf("response %d: CSP %q", i, v)
		}
		if v := got.Get("Access-Control-Allow-Origin"); v != "https://app.example.com" {
			t.Fatalf("response %d: Access-Control-Allow-Origin %q", i, v)
		}
	}
	for _, kv := range SecurityHeaders {
		if f := newField(kv[0], kv[1]); len(f.value) != 1 || f.value[0] != kv[1] {
			t.Fatalf("%s changed", kv[0])
		}
	}
	if fieldVaryOrigin.value[0] != "Origin" || fieldJSON.value[0] != "application/json; charset=utf-8" {
		t.Fatal("a shared value was written into")
	}
}

// TestRequestStateThroughWrappedContexts: the request's record is found
// and cancellation still flows when a handler wraps the context.
func TestRequestStateThroughWrappedContexts(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	var id string
	var ip netip.Addr
	var cancelled bool
	h := chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, stop := context.WithTimeout(r.Context(), time.Hour)
		defer stop()
		ctx = context.WithValue(ctx, struct{ k int }{1}, "v")
		id, ip = RequestID(ctx), ClientIP(ctx)
		cancel()
		select {
		case <-ctx.Done():
			cancelled = errors.Is(ctx.Err(), context.Canceled)
		case <-time.After(10 * time.Second):
		}
	}), slog.New(slog.DiscardHandler), time.Now)
	req := httptest.NewRequestWithContext(parent, "GET", "/", nil)
	req.Header.Set(RequestIDHeader, "kept-id")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if id != "kept-id" || ip != netip.MustParseAddr("203.0.113.7") || !cancelled {
		t.Fatalf("id %q ip %v cancelled %v", id, ip, cancelled)
	}
}

func TestNewRequestID(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := NewRequestID()
		if len(id) != 26 || !ValidRequestID(id) || strings.Trim(id, "0123456789abcdefghjkmnpqrstvwxyz") != "" {
			t.Fatalf("id %q", id)
		}
		if seen[id] {
			t.Fatalf("id %q twice", id)
		}
		seen[id] = true
	}
}

func TestRequestIDHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		sent []string
		kept bool
	}{
		{"one valid id is kept", []string{"abc"}, true},
		{"none gets a new one", nil, false},
		{"two lines get a new one", []string{"abc", "def"}, false},
		{"an invalid one is replaced", []string{"a b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			for _, v := range tc.sent {
				req.Header.Add(RequestIDHeader, v)
			}
			var seen string
			w := httptest.NewRecorder()
			RequestIDs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = RequestID(r.Context()) })).ServeHTTP(w, req)
			if got := w.Header().Values(RequestIDHeader); len(got) != 1 || got[0] != seen || !ValidRequestID(seen) {
				t.Fatalf("response ids %q, context id %q", got, seen)
			}
			if kept := len(tc.sent) > 0 && seen == tc.sent[0]; kept != tc.kept {
				t.Fatalf("kept=%v, want %v", kept, tc.kept)
			}
		})
	}
}

// TestAddrString: the cached form of an address is its String, on a miss
// and on a hit, whatever shares its slot (IPv4, IPv6, the IPv4-mapped form
// of the same IPv4, a zone), and "" for the zero Addr.
func TestAddrString(t *testing.T) {
	addrs := []netip.Addr{
		netip.MustParseAddr("127.0.0.1"),
		netip.MustParseAddr("203.0.113.7"),
		netip.MustParseAddr("::ffff:203.0.113.7"),
		netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("fe80::1%eth0"),
		netip.MustParseAddr("fe80::1%eth1"),
		netip.MustParseAddr("fe80::1"),
	}
	// Addresses that share a slot with the first, so the cache must tell
	// them apart by comparison, not by slot.
	for i := 0; len(addrs) < 12 && i < 1<<20; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if addrSlot(a) == addrSlot(addrs[0]) {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) < 12 {
		t.Fatal("no addresses sharing a slot found")
	}
	for round := range 3 {
		for _, a := range addrs {
			if got := addrString(a); got != a.String() {
				t.Fatalf("round %d: addrString(%v) = %q", round, a, got)
			}
		}
	}
	if got := addrString(netip.Addr{}); got != "" {
		t.Fatalf("zero Addr: %q", got)
	}
}
