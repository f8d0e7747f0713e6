package httpx

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/rtgate/rtgate/internal/reqctx"
)

// SecurityHeaders are the guide's headers, sent on every response, errors
// included. A handler may replace Content-Security-Policy for its own page.
var SecurityHeaders = [][2]string{
	{"X-Content-Type-Options", "nosniff"},
	{"X-Frame-Options", "DENY"},
	{"X-XSS-Protection", "1; mode=block"},
	{"Referrer-Policy", "strict-origin-when-cross-origin"},
	{"Permissions-Policy", "microphone=(self)"},
	{"Strict-Transport-Security", "max-age=31536000"},
	{"Content-Security-Policy", "default-src 'self'"},
}

// Secure sets SecurityHeaders before the handler runs, so they are present
// whatever the handler writes. The header values are taken from
// SecurityHeaders when Secure is called and shared by every response.
func Secure(next http.Handler) http.Handler {
	s := secure{next: next, fields: make([]field, len(SecurityHeaders))}
	for i, kv := range SecurityHeaders {
		s.fields[i] = newField(kv[0], kv[1])
	}
	return s
}

type secure struct {
	next   http.Handler
	fields []field
}

func (s secure) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for _, f := range s.fields {
		f.set(h)
	}
	s.next.ServeHTTP(w, r)
}

// Recover turns a panic into a generic 500. The panic value and stack go to
// the log only. http.ErrAbortHandler is passed on, as net/http expects.
func Recover(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return recoverer{next: next, log: log} }
}

type recoverer struct {
	next http.Handler
	log  *slog.Logger
}

func (m recoverer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer m.recover(w, r)
	m.next.ServeHTTP(w, r)
}

func (m recoverer) recover(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	m.log.Error("panic", "request_id", RequestID(r.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
		return // too late for a clean response
	}
	WriteError(w, r, nil, Errorf(http.StatusInternalServerError, CodeInternal, nil))
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Observer receives one call per finished request, for metrics.
type Observer interface {
	ObserveRequest(route, method string, status int, d time.Duration)
}

// AccessLog writes one JSON line per request (method, path, route, status,
// duration, client ip, request id) and reports it to obs when obs is not nil.
// It never logs query strings, headers or bodies. A request refused through
// WriteError gets its refusal on the same line: code, scope (when set) and
// cause, so a refusal costs one line, not two.
//
// The line is built from typed attributes and handed to the logger's
// handler directly: no reflection, and no call-stack capture (rtgate's
// handlers do not report the source position).
func AccessLog(log *slog.Logger, obs Observer, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return accessLog{next: next, log: log, obs: obs, now: now} }
}

type accessLog struct {
	next http.Handler
	log  *slog.Logger
	obs  Observer
	now  func() time.Time
}

func (m accessLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := m.now()
	s := getState(r.Context())
	var sw *statusWriter
	if s != nil && s.sw.ResponseWriter == nil {
		sw = &s.sw // the request's record has room for it
		s.access = true
	} else {
		sw = new(statusWriter)
	}
	sw.ResponseWriter = w
	defer m.done(r, s, sw, start)
	m.next.ServeHTTP(sw, r)
}

func (m accessLog) done(r *http.Request, s *state, sw *statusWriter, start time.Time) {
	d := m.now().Sub(start)
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	var route, id string
	var ip netip.Addr
	var refusal *Error
	if s != nil {
		route, id, ip = s.Route, s.RequestID, s.ClientIP
		if s.access && &s.sw == sw {
			refusal = s.refusal
		}
	}
	if route == "" {
		route = "unmatched"
	}
	if m.obs != nil {
		m.obs.ObserveRequest(route, r.Method, status, d)
	}
	ctx := r.Context()
	if !m.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	var attrs [11]slog.Attr
	a := append(attrs[:0],
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Int64("bytes", sw.bytes),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("client_ip", addrString(ip)),
		slog.String("request_id", id),
	)
	if refusal != nil {
		a = append(a, slog.String("code", refusal.Code))
		if refusal.Scope != "" {
			a = append(a, slog.String("scope", refusal.Scope))
		}
		if refusal.Err != nil {
			a = append(a, slog.String("cause", refusal.Err.Error()))
		}
	}
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	rec.AddAttrs(a...)
	_ = m.log.Handler().Handle(ctx, rec)
}

// addrString is a.String() ("" for the zero Addr), from a small
// direct-mapped cache of the addresses seen last: a client sends many
// requests (a browser keeps its connections), so its address is formatted
// once, not on every access line. A miss formats and replaces the slot's
// entry; the cache never holds more than len(addrStrings) entries.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	slot := &addrStrings[addrSlot(a)]
	if v := slot.Load(); v != nil && v.addr == a {
		return v.s
	}
	v := &addrStr{addr: a, s: a.String()}
	slot.Store(v)
	return v.s
}

var addrStrings [256]atomic.Pointer[addrStr]

type addrStr struct {
	addr netip.Addr // compared whole: bits, family and zone
	s    string
}

// addrSlot spreads addresses over addrStrings (a multiplicative hash of the
// 128 bits; the zone is left to the comparison).
func addrSlot(a netip.Addr) int {
	b := a.As16()
	x := binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:])*0x9e3779b97f4a7c15
	return int((x * 0x9e3779b97f4a7c15) >> (64 - 8))
}

// IPResolver finds the client address of a request.
type IPResolver interface {
	ClientIP(r *http.Request) (netip.Addr, error)
}

// ClientIP returns the client address stored by WithClientIP (invalid if none).
func ClientIP(ctx context.Context) netip.Addr { return reqctx.ClientIP(ctx) }

// WithRoute wraps a ServeMux so the matched pattern is recorded for the
// access log and metrics (the mux sets r.Pattern on the request it is given).
func WithRoute(mux http.Handler) http.Handler { return withRoute{mux} }

type withRoute struct{ mux http.Handler }

func (m withRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mux.ServeHTTP(w, r)
	if s := getState(r.Context()); s != nil {
		s.Route = r.Pattern
	}
}

// WithClientIP resolves the client address once and stores it in the
// context for the access log and the rate limiter. A request whose address
// cannot be resolved is refused: it must never become a rate-limit key.
func WithClientIP(res IPResolver, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return withClientIP{next: next, res: res, log: log} }
}

type withClientIP struct {
	next http.Handler
	res  IPResolver
	log  *slog.Logger
}

func (m withClientIP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip, err := m.res.ClientIP(r)
	if err != nil || !ip.IsValid() {
		WriteError(w, r, m.log, Errorf(http.StatusBadRequest, CodeBadRequest, fmt.Errorf("client ip: %w", err)))
		return
	}
	if s := getState(r.Context()); s != nil {
		s.ClientIP = ip
	}
	m.next.ServeHTTP(w, r)
}

// Chain applies middlewares so that the first listed runs first.
func Chain(h http.Handler, mws ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
