package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rtgate/rtgate/internal/reqctx"
)

// ForwardOptions configures forward authentication.
type ForwardOptions struct {
	// URL is called with GET for every request (AUTH_FORWARD_URL).
	URL string
	// UserHeader is the response header that carries the user id
	// (AUTH_FORWARD_USER_HEADER, "X-User-ID").
	UserHeader string
	// Timeout bounds one call (AUTH_FORWARD_TIMEOUT_MS).
	Timeout time.Duration
	// CacheTTL keeps admissions that long (AUTH_FORWARD_CACHE_SECONDS);
	// 0 disables the cache. Refusals are never cached.
	CacheTTL time.Duration
	// CacheMax bounds the cache (default 10000 entries); at the bound new
	// admissions are not cached.
	CacheMax int
	// Client makes the calls; one that follows no redirects and ignores
	// proxy environment variables when nil.
	Client *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// OnCall, when set, is called after each call with its outcome:
	// "admit", "deny", "error" or "cache_hit" (for metrics).
	OnCall func(outcome string)
}

// Forward asks an existing session service whether the request's
// credentials are good, the way nginx's auth_request does: rtgate sends the
// request's Cookie and Authorization headers (and nothing else of it) to
// URL; a 2xx admits and names the user in UserHeader; 401, 403, redirects
// and other 4xx deny (401 to the client); 5xx, timeouts and connection
// errors make authentication unavailable (503), never an admission.
type Forward struct {
	o        ForwardOptions
	cacheKey [32]byte // keys the credential hash; random per process

	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	user    string
	expires time.Time
}

var _ Verifier = (*Forward)(nil)

// NewForward returns a forward-auth verifier.
func NewForward(o ForwardOptions) (*Forward, error) {
	if o.URL == "" {
		return nil, errors.New("auth: forward URL required")
	}
	if o.UserHeader == "" {
		o.UserHeader = "X-User-ID"
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.CacheMax <= 0 {
		o.CacheMax = 10000
	}
	if o.Client == nil {
		o.Client = &http.Client{
			Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a redirect to a login page is a "no"
			},
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f := &Forward{o: o, cache: map[[32]byte]cached{}}
	_, _ = rand.Read(f.cacheKey[:])
	return f, nil
}

func (f *Forward) outcome(s string) {
	if f.o.OnCall != nil {
		f.o.OnCall(s)
	}
}

// Verify implements Verifier.
func (f *Forward) Verify(r *http.Request) (string, error) {
	authz := r.Header.Values("Authorization")
	cookies := r.Header.Values("Cookie")
	if len(authz) == 0 && len(cookies) == 0 {
		return "", fail(ReasonMissing, nil)
	}
	if len(authz) == 0 && crossSite(r) {
		return "", fail(ReasonCrossSiteCookie, errors.New("cookie credentials on a cross-site request without Origin"))
	}
	key := f.credentialHash(authz, cookies)
	now := f.o.Now()
	if f.o.CacheTTL > 0 {
		f.mu.Lock()
		c, ok := f.cache[key]
		f.mu.Unlock()
		if ok && now.Before(c.expires) {
			f.outcome("cache_hit")
			return c.user, nil
		}
	}
	user, err := f.call(r, authz, cookies)
	if err != nil {
		return "", err
	}
	if f.o.CacheTTL > 0 {
		f.store(key, user, now)
	}
	return user, nil
}

func (f *Forward) call(r *http.Request, authz, cookies []string) (string, error) {
	ctx, cancel := context.WithTimeout(r.Context(), f.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.o.URL, nil)
	if err != nil {
		return "", unavailable("forward auth: %w", err)
	}
	for _, v := range authz {
		req.Header.Add("Authorization", v)
	}
	for _, v := range cookies {
		req.Header.Add("Cookie", v)
	}
	// What nginx's auth_request setups usually pass on, so the session
	// service can log and decide as it would behind nginx.
	req.Header.Set("X-Original-Method", r.Method)
	req.Header.Set("X-Original-URI", r.URL.RequestURI())
	if ip := reqctx.ClientIP(r.Context()); ip.IsValid() {
		req.Header.Set("X-Forwarded-For", ip.String())
	}
	if rid := reqctx.RequestID(r.Context()); rid != "" {
		req.Header.Set("X-Request-ID", rid)
	}
	resp, err := f.o.Client.Do(req)
	if err != nil {
		f.outcome("error")
		if errors.Is(err, context.DeadlineExceeded) {
			return "", unavailable("forward auth: no answer within %v", f.o.Timeout)
		}
		return "", unavailable("forward auth: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		f.outcome("error")
		return "", unavailable("forward auth: status %d", resp.StatusCode)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		f.outcome("deny")
		return "", fail(ReasonDenied, fmt.Errorf("forward auth status %d", resp.StatusCode))
	}
	users := resp.Header.Values(f.o.UserHeader)
	if len(users) != 1 || !ValidUserID(strings.TrimSpace(users[0])) {
		f.outcome("deny")
		return "", fail(ReasonNoUser, fmt.Errorf("forward auth answered %d without exactly one usable %s header", resp.StatusCode, f.o.UserHeader))
	}
	f.outcome("admit")
	return strings.TrimSpace(users[0]), nil
}

// credentialHash keys the cache: an HMAC of the credentials under a
// per-process random key, so the cache holds no usable credential.
func (f *Forward) credentialHash(authz, cookies []string) [32]byte {
	m := hmac.New(sha256.New, f.cacheKey[:])
	for _, v := range authz {
		m.Write([]byte("a\x00" + v + "\x00"))
	}
	for _, v := range cookies {
		m.Write([]byte("c\x00" + v + "\x00"))
	}
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

func (f *Forward) store(key [32]byte, user string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.cache) >= f.o.CacheMax {
		for k, c := range f.cache {
			if !now.Before(c.expires) {
				delete(f.cache, k)
			}
		}
		if len(f.cache) >= f.o.CacheMax {
			return
		}
	}
	f.cache[key] = cached{user: user, expires: now.Add(f.o.CacheTTL)}
}
