package simulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "sk-test-0123456789abcdefghijklmnopqrstuvwxyz"

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	sim   *Simulator
	url   string
	clock *clock
}

func newEnv(t *testing.T, mod ...func(*Options)) *env {
	t.Helper()
	c := &clock{t: time.Date(2026, 8, 27, 12, 0, 0, 0, time.UTC)}
	opts := Options{APIKeys: []string{testKey}, Now: c.Now}
	for _, m := range mod {
		m(&opts)
	}
	sim := New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &env{sim: sim, url: srv.URL, clock: c}
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	return m
}

// do sends one request; hdr entries with an empty value delete that header.
func (e *env) do(t *testing.T, method, path string, hdr map[string]string, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) mint(t *testing.T, body string) map[string]any {
	t.Helper()
	res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, body)
	if res.status != http.StatusOK {
		t.Fatalf("mint: status %d: %s", res.status, res.body)
	}
	return res.json(t)
}

var (
	reqIDPattern   = regexp.MustCompile(`^req_[0-9a-f]{32}$`)
	secretPattern  = regexp.MustCompile(`^ek_[0-9a-f]{32}$`)
	sessionPattern = regexp.MustCompile(`^sess_[0-9A-Za-z]{21}$`)
	callLocation   = regexp.MustCompile(`^/v1/realtime/calls/(rtc_[0-9a-f]{32})$`)
	digits         = regexp.MustCompile(`^[0-9]+$`)
)

// assertOpenAIHeaders checks the section-5 headers every response carries.
func assertOpenAIHeaders(t *testing.T, h http.Header) {
	t.Helper()
	if !reqIDPattern.MatchString(h.Get("x-request-id")) {
		t.Errorf("x-request-id = %q", h.Get("x-request-id"))
	}
	if got := h.Get("openai-version"); got != "2020-10-01" {
		t.Errorf("openai-version = %q", got)
	}
	if h.Get("openai-organization") == "" {
		t.Error("openai-organization missing")
	}
	if !digits.MatchString(h.Get("openai-processing-ms")) {
		t.Errorf("openai-processing-ms = %q", h.Get("openai-processing-ms"))
	}
	for _, k := range []string{"limit-requests", "limit-tokens", "remaining-requests", "remaining-tokens"} {
		if !digits.MatchString(h.Get("x-ratelimit-" + k)) {
			t.Errorf("x-ratelimit-%s = %q", k, h.Get("x-ratelimit-"+k))
		}
	}
	for _, k := range []string{"reset-requests", "reset-tokens"} {
		if _, err := time.ParseDuration(h.Get("x-ratelimit-" + k)); err != nil {
			t.Errorf("x-ratelimit-%s = %q: %v", k, h.Get("x-ratelimit-"+k), err)
		}
	}
}

// wantError asserts an OpenAI ErrorResponse: exactly message/type/param/code.
// An empty wantParam or wantCode means JSON null.
func wantError(t *testing.T, res response, status int, typ, code, param string) map[string]any {
	t.Helper()
	if res.status != status {
		t.Fatalf("status = %d, want %d; body %s", res.status, status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	assertOpenAIHeaders(t, res.header)
	var body struct {
		Error map[string]any `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body %s: %v", res.body, err)
	}
	e := body.Error
	if len(e) != 4 {
		t.Errorf("error object has keys %v, want message,type,param,code", e)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("message = %v", e["message"])
	}
	if e["type"] != typ {
		t.Errorf("type = %v, want %s", e["type"], typ)
	}
	check := func(k, want string) {
		v, present := e[k]
		switch {
		case !present:
			t.Errorf("%s missing", k)
		case want == "" && v != nil:
			t.Errorf("%s = %v, want null", k, v)
		case want != "" && v != want:
			t.Errorf("%s = %v, want %s", k, v, want)
		}
	}
	check("code", code)
	check("param", param)
	return e
}
