package browser_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rtgate/rtgate/internal/gateway"
	"github.com/rtgate/rtgate/internal/nginxtest"
	"github.com/rtgate/rtgate/internal/tlsx/tlsxtest"
)

const migrationGuide = "../../docs/migrate-from-nextjs.md"

// guideSnippets returns the code blocks of the migration guide that follow a
// "<!-- checked: NAME -->" marker, by NAME.
func guideSnippets(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(migrationGuide)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string)
	for _, m := range regexp.MustCompile("(?s)<!-- checked: ([\\w.-]+) -->\n```\\w+\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	for _, name := range []string{"nginx", "next.config", "after-token", "after-call", "after-live", "after-jwt"} {
		if out[name] == "" {
			t.Fatalf("%s has no checked %q block", migrationGuide, name)
		}
	}
	return out
}

// rtgateRoutes are the paths step 2 of the guide sends to rtgate, one
// request each, and appRoutes some that must stay the app's.
var (
	rtgateRoutes = []struct{ method, path string }{
		{"POST", "/api/realtime-session"},
		{"POST", "/api/realtime-call"},
		{"POST", "/api/realtime-call/call_0123456789abcdefghijkl/hangup"},
		{"POST", "/api/live-session"},
		{"POST", "/api/live-session/live_0123456789abcdefghijkl/hangup"},
		{"GET", "/api/me/data"},
		{"GET", "/rtgate-client.js"},
	}
	appRoutes = []string{"/", "/api/other", "/api/realtime-sessions", "/api/melon", "/about"}
)

// TestMigrationGuide runs docs/migrate-from-nextjs.md: its nginx block in a
// real nginx (as written with a test certificate, and over plain HTTP) in
// front of a stand-in for the Next.js app and a real rtgate (only the paths
// of step 2 reach rtgate), its token- and call-mode browser
// snippets verbatim in Chromium through that nginx, every checked snippet
// through Node.js's parser, and its next.config.mjs rewrites evaluated.
func TestMigrationGuide(t *testing.T) {
	t.Parallel()
	snippets := guideSnippets(t)
	checkSnippetsWithNode(t, snippets)

	nginxPort := nginxtest.FreePort(t)
	origin := "http://127.0.0.1:" + nginxPort
	st := startStack(t, map[string]string{"ALLOWED_ORIGINS": origin, "TRUSTED_PROXIES": "127.0.0.1"})
	simOrigin := strings.TrimSuffix(st.in.SimURL, "/v1")

	// The stand-in app: a page that runs one snippet, marked X-App on
	// everything it answers.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-App", "next")
		switch {
		case r.URL.Path == "/":
			name := r.URL.Query().Get("snippet")
			w.Header().Set("Content-Security-Policy", gateway.DemoPageCSP(simOrigin))
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>app</title><button id="stop">Stop</button>
<script src="/prelude.js"></script><script type="module" src="/snippet.js?name=%s"></script>`, name)
		case r.URL.Path == "/prelude.js":
			w.Header().Set("Content-Type", "text/javascript")
			io.WriteString(w, `window.__events = [];
window.handle = (ev) => window.__events.push(ev.type);
window.addEventListener("unhandledrejection", (e) => { window.__error = String(e.reason && e.reason.message || e.reason); });`)
		case r.URL.Path == "/snippet.js":
			// At the root, so the snippet's "./rtgate-client.js" is
			// /rtgate-client.js, which the guide's nginx sends to rtgate.
			code, ok := snippets[r.URL.Query().Get("name")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			// The only change: token mode talks to the simulator, not OpenAI.
			code = strings.ReplaceAll(code, "https://api.openai.com/v1", st.in.SimURL)
			w.Header().Set("Content-Type", "text/javascript")
			io.WriteString(w, code+"\nwindow.__rt = rt;\n")
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "app page not found")
		}
	}))
	t.Cleanup(app.Close)

	// The block runs twice in one nginx: as written, with a throw-away
	// certificate, and over plain HTTP (TLS lines dropped) for Chromium.
	tlsPort := nginxtest.FreePort(t)
	ca := tlsxtest.NewCA(t)
	certDir := t.TempDir()
	ca.Issue(t, time.Hour, "127.0.0.1", "app.example.com").Write(t, filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem"))
	conf := snippets["nginx"]
	for _, r := range []struct{ from, to string }{
		{"127.0.0.1:3000", strings.TrimPrefix(app.URL, "http://")},
		{"127.0.0.1:3001", strings.TrimPrefix(st.in.URL, "http://")},
		{"/etc/letsencrypt/live/app.example.com/fullchain.pem", filepath.Join(certDir, "cert.pem")},
		{"/etc/letsencrypt/live/app.example.com/privkey.pem", filepath.Join(certDir, "key.pem")},
	} {
		if !strings.Contains(conf, r.from) {
			t.Fatalf("the guide's nginx block has no %q", r.from)
		}
		conf = strings.ReplaceAll(conf, r.from, r.to)
	}
	if !strings.Contains(conf, "listen 443 ssl;") {
		t.Fatal(`the guide's nginx block has no "listen 443 ssl;"`)
	}
	withTLS := strings.ReplaceAll(conf, "listen 443 ssl;", "listen 127.0.0.1:"+tlsPort+" ssl;")
	plain := regexp.MustCompile(`(?m)^(\s*ssl_.*|upstream .*)$`).ReplaceAllString(strings.ReplaceAll(conf, "listen 443 ssl;", "listen 127.0.0.1:"+nginxPort+";"), "")
	nginxtest.Start(t, withTLS+"\n"+plain, nginxPort, tlsPort)

	t.Run("step 2 paths reach rtgate, the rest the app", func(t *testing.T) {
		for _, base := range []string{origin, "https://127.0.0.1:" + tlsPort} {
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
			get := func(method, path string) *http.Response {
				req, _ := http.NewRequest(method, base+path, nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			for _, r := range rtgateRoutes {
				if resp := get(r.method, r.path); resp.Header.Get("X-App") != "" || resp.Header.Get("X-Request-ID") == "" {
					t.Errorf("%s %s%s: answered by the app (status %d), want rtgate", r.method, base, r.path, resp.StatusCode)
				}
			}
			for _, p := range appRoutes {
				if resp := get("GET", p); resp.Header.Get("X-App") != "next" {
					t.Errorf("GET %s%s: answered by rtgate (status %d), want the app", base, p, resp.StatusCode)
				}
			}
		}
	})

	bctx := newBrowser(t)
	for _, name := range []string{"after-call", "after-token"} {
		t.Run(name+" snippet through nginx", func(t *testing.T) {
			minted, before := len(st.in.Sim.Minted()), st.in.Sim.Calls()
			calls := len(before)
			tb := openTab(t, bctx)
			tb.do(t, chromedp.Navigate(origin+"/?snippet="+name))
			tb.waitFor(t, "the snippet's connection", `!!window.__error || (!!window.__rt && window.__rt.pc.connectionState === "connected" && window.__events.includes("session.created"))`)
			if e := eval[string](t, tb, `window.__error || ""`); e != "" {
				t.Fatalf("snippet failed: %s", e)
			}
			newMints, newCalls := len(st.in.Sim.Minted())-minted, len(st.in.Sim.Calls())-calls
			if name == "after-token" && (newMints != 1 || newCalls != 1) || name == "after-call" && (newMints != 0 || newCalls != 1) {
				t.Errorf("%s: %d secrets minted, %d upstream calls", name, newMints, newCalls)
			}
			var created []string
			for _, c := range st.in.Sim.Calls() {
				if !slices.Contains(before, c) {
					created = append(created, c)
				}
			}
			tb.do(t, chromedp.Click(chromedp.ID("stop")))
			tb.waitFor(t, "the stop button to close the connection", `window.__rt.pc.connectionState === "closed"`)
			if name == "after-call" && len(created) == 1 {
				// The stop button closes the peer (which the simulator, and
				// rtgate's sideband, take as the end) and sends the hang-up
				// through nginx: rtgate receives it, and the call is over.
				callID := eval[string](t, tb, `window.__rt.callId || ""`)
				waitLog(t, st, `"path":"/api/realtime-call/`+callID+`/hangup"`)
				waitLog(t, st, `"msg":"call ended"`, `"upstream_call_id":"`+created[0]+`"`)
			}
			if v := eval[[]string](t, tb, `window.__cspViolations`); len(v) != 0 {
				t.Errorf("CSP violations: %v", v)
			}
		})
	}
}

// checkSnippetsWithNode parses every checked JavaScript snippet with
// Node.js and evaluates next.config.mjs's rewrites: one rewrite per route
// family of step 2, to RTGATE_URL (default http://127.0.0.1:3001).
func checkSnippetsWithNode(t *testing.T, snippets map[string]string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required to check the guide's snippets (Node.js is part of the machine; Debian: apt-get install nodejs): %v", err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, code := range snippets {
		if name == "nginx" {
			continue
		}
		file := filepath.Join(dir, name+".mjs")
		if err := os.WriteFile(file, []byte(code), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.CommandContext(ctx, node, "--check", file).CombinedOutput(); err != nil {
			t.Errorf("snippet %s does not parse: %v\n%s", name, err, out)
		}
	}
	script := `const c = (await import(process.argv[1])).default; console.log(JSON.stringify(await c.rewrites()));`
	cmd := exec.CommandContext(ctx, node, "--input-type=module", "-e", script, "file://"+filepath.Join(dir, "next.config.mjs"))
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "RTGATE_URL=") })
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("evaluating next.config.mjs: %v\n%s", err, out)
	}
	var rewrites []struct{ Source, Destination string }
	if err := json.Unmarshal(out, &rewrites); err != nil {
		t.Fatalf("rewrites %q: %v", out, err)
	}
	want := []string{"/api/realtime-session", "/api/realtime-call/:path*", "/api/live-session/:path*", "/api/me/:path*"}
	var got []string
	for _, r := range rewrites {
		got = append(got, r.Source)
		if r.Destination != "http://127.0.0.1:3001"+r.Source {
			t.Errorf("rewrite %s → %s, want rtgate's same path on port 3001", r.Source, r.Destination)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("rewrite sources %v, want %v", got, want)
	}
}
