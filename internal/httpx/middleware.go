package httpx

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
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
// whatever the handler writes.
func Secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, kv := range SecurityHeaders {
			h.Set(kv[0], kv[1])
		}
		next.ServeHTTP(w, r)
	})
}

// Recover turns a panic into a generic 500. The panic value and stack go to
// the log only. http.ErrAbortHandler is passed on, as net/http expects.
func Recover(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic", "request_id", RequestID(r.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
					return // too late for a clean response
				}
				WriteError(w, r, nil, Errorf(http.StatusInternalServerError, CodeInternal, nil))
			}()
			next.ServeHTTP(w, r)
		})
	}
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
// It never logs query strings, headers or bodies.
func AccessLog(log *slog.Logger, obs Observer, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := now()
			sw := &statusWriter{ResponseWriter: w}
			defer func() {
				d := now().Sub(start)
				status := sw.status
				if status == 0 {
					status = http.StatusOK
				}
				var route string
				if s := getState(r.Context()); s != nil {
					route = s.Route
				}
				if route == "" {
					route = "unmatched"
				}
				if obs != nil {
					obs.ObserveRequest(route, r.Method, status, d)
				}
				ip := ClientIP(r.Context())
				log.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.String("route", route),
					slog.Int("status", status),
					slog.Int64("bytes", sw.bytes),
					slog.Float64("duration_ms", float64(d.Microseconds())/1000),
					slog.String("client_ip", addrString(ip)),
					slog.String("request_id", RequestID(r.Context())),
				)
			}()
			next.ServeHTTP(sw, r)
		})
	}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// IPResolver finds the client address of a request.
type IPResolver interface {
	ClientIP(r *http.Request) (netip.Addr, error)
}

// ClientIP returns the client address stored by WithClientIP (invalid if none).
func ClientIP(ctx context.Context) netip.Addr { return reqctx.ClientIP(ctx) }

// WithRoute wraps a ServeMux so the matched pattern is recorded for the
// access log and metrics (the mux sets r.Pattern on the request it is given).
func WithRoute(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if s := getState(r.Context()); s != nil {
			s.Route = r.Pattern
		}
	})
}

// WithClientIP resolves the client address once and stores it in the
// context for the access log and the rate limiter. A request whose address
// cannot be resolved is refused: it must never become a rate-limit key.
func WithClientIP(res IPResolver, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip, err := res.ClientIP(r)
			if err != nil || !ip.IsValid() {
				WriteError(w, r, log, Errorf(http.StatusBadRequest, CodeBadRequest, fmt.Errorf("client ip: %w", err)))
				return
			}
			if s := getState(r.Context()); s != nil {
				s.ClientIP = ip
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Chain applies middlewares so that the first listed runs first.
func Chain(h http.Handler, mws ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
