package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/simulator"
	"github.com/rtgate/rtgate/internal/simulator/webrtcpeer"
)

// secretShape is what an ephemeral secret looks like (the page's own text
// mentions the prefix "ek_" alone).
var secretShape = regexp.MustCompile(`ek_[A-Za-z0-9]{12,}`)

// chromiumPath is Debian's chromium, installed by scripts/test.sh.
const chromiumPath = "/usr/bin/chromium"

// waitTimeout bounds each wait in the page; a connected session on loopback
// takes well under a second, so this only matters when something is broken.
const waitTimeout = 30 * time.Second

// cspProbe runs before any page script (injected over CDP, so the page's
// CSP does not apply to it) and records every CSP violation the page causes.
const cspProbe = `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});`

// stack is a running rtgate whose upstream is a simulator with a real WebRTC
// peer, serving the demo page from its own origin.
type stack struct {
	in     *apptest.Instance
	ans    *webrtcpeer.Answerer
	origin string
}

func startStack(t *testing.T, env map[string]string) *stack {
	t.Helper()
	return startStackBehind(t, env, nil)
}

// startStackBehind is startStack with rtgate's upstream being front(sim,
// the simulator's own URL) instead of the simulator itself (nil: the
// simulator).
func startStackBehind(t *testing.T, env map[string]string, front func(sim *simulator.Simulator, simURL string) http.Handler) *stack {
	t.Helper()
	key := apptest.RandomKey()
	ans, err := webrtcpeer.New(webrtcpeer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ans.Close)
	sim := simulator.New(simulator.Options{APIKeys: []string{key}, Answerer: ans})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	if front != nil {
		simSrv = httptest.NewServer(front(sim, simSrv.URL))
		t.Cleanup(simSrv.Close)
	}

	// The page's own origin must be in ALLOWED_ORIGINS (browsers send Origin
	// on same-origin POSTs), so the port is chosen before rtgate starts.
	port := freePort(t)
	origin := "http://127.0.0.1:" + strconv.Itoa(port)
	full := map[string]string{"PORT": strconv.Itoa(port), "ALLOWED_ORIGINS": origin, "RATE_LIMIT_MAX_REQUESTS": "1000", "LOG_LEVEL": "info"}
	for k, v := range env {
		full[k] = v
	}
	in := apptest.StartWith(t, sim, simSrv.URL+"/v1", key, full)
	if in.URL != origin {
		t.Fatalf("rtgate listens on %s, want %s", in.URL, origin)
	}
	return &stack{in: in, ans: ans, origin: origin}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// shared is the Chromium most tests use (microphone allowed), started on
// first use and stopped by TestMain: one browser start instead of one per
// test.
var shared struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cancel != nil {
		shared.cancel()
	}
	os.Exit(code)
}

// newBrowser returns the shared headless Chromium with a fake microphone and
// WebRTC on loopback (see docs/browser.md for why each flag is there). Tests
// open their own tabs in it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	shared.once.Do(func() { shared.ctx, shared.cancel, shared.err = launchBrowser(true) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.ctx
}

// startBrowser starts a Chromium of the test's own, stopped at its end;
// with micAllowed false there is no fake permission UI and prompts are
// denied, as when a person clicks "Block".
func startBrowser(t *testing.T, micAllowed bool) context.Context {
	t.Helper()
	ctx, cancel, err := launchBrowser(micAllowed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return ctx
}

func launchBrowser(micAllowed bool) (context.Context, context.CancelFunc, error) {
	if _, err := os.Stat(chromiumPath); err != nil {
		return nil, nil, fmt.Errorf("chromium is required for the browser tests (scripts/test.sh installs it): %w", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1000, 720),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	if micAllowed {
		opts = append(opts, chromedp.Flag("use-fake-ui-for-media-stream", true))
	} else {
		opts = append(opts, chromedp.Flag("deny-permission-prompts", true))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	cancel := func() { cancelBrowser(); cancelAlloc() }
	// No timeout on the first run: it starts the browser.
	if err := chromedp.Do(bctx); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("start chromium: %w", err)
	}
	return bctx, cancel, nil
}

// tab is one page with everything it sent, received and logged captured as
// raw DevTools protocol events.
type tab struct {
	ctx context.Context

	mu       sync.Mutex
	network  []string
	console  []string
	finished []network.RequestID
}

var networkEvents = []string{
	"Network.requestWillBeSent", "Network.requestWillBeSentExtraInfo",
	"Network.responseReceived", "Network.responseReceivedExtraInfo",
	"Network.loadingFinished", "Network.loadingFailed",
}

var consoleEvents = []string{"Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded"}

func openTab(t *testing.T, bctx context.Context) *tab {
	t.Helper()
	tb, _ := openClosableTab(t, bctx)
	return tb
}

// openClosableTab is openTab with the function that closes the tab (as a
// person closing it would; it also runs at the test's end).
func openClosableTab(t *testing.T, bctx context.Context) (*tab, context.CancelFunc) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatal(err)
	}
	tb := &tab{ctx: ctx}
	target := chromedp.FromContext(ctx).Target
	for _, m := range append(append([]string{}, networkEvents...), consoleEvents...) {
		ch, stop := target.Subscribe(m)
		t.Cleanup(stop)
		isConsole := strings.HasPrefix(m, "Runtime.") || strings.HasPrefix(m, "Log.")
		go func() {
			for v := range ch {
				tb.mu.Lock()
				if isConsole {
					tb.console = append(tb.console, string(v))
				} else {
					tb.network = append(tb.network, string(v))
				}
				if m == "Network.loadingFinished" {
					var ev struct {
						RequestID network.RequestID `json:"requestId"`
					}
					if json.Unmarshal(v, &ev) == nil {
						tb.finished = append(tb.finished, ev.RequestID)
					}
				}
				tb.mu.Unlock()
			}
		}()
	}
	return tb, cancel
}

func (tb *tab) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%v\n%s", err, tb.state(t))
	}
}

func eval[T any](t *testing.T, tb *tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// evalAwait is eval for an expression whose value is a promise.
func evalAwait[T any](t *testing.T, tb *tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a page expression until it is true; on timeout it fails with
// what the page shows.
func (tb *tab) waitFor(t *testing.T, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s: %v\n%s", what, err, tb.state(t))
	}
}

// state describes the demo page for failure messages.
func (tb *tab) state(t *testing.T) string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		message: document.getElementById("message") && document.getElementById("message").textContent,
		pc: document.getElementById("pc-state") && document.getElementById("pc-state").dataset.state,
		dc: document.getElementById("dc-state") && document.getElementById("dc-state").dataset.state,
		energy: document.getElementById("energy") && document.getElementById("energy").dataset.max,
		events: Array.from(document.querySelectorAll("#events li")).map((li) => li.dataset.type),
		csp: window.__cspViolations,
	})`))
	if err != nil {
		return "page state unavailable: " + err.Error()
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return "page: " + s + "\nconsole:\n" + strings.Join(tb.console, "\n")
}

// everything returns all captured network events, the bodies of all
// finished responses, the console and the page's current HTML, as one text.
func (tb *tab) everything(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(tb.traffic(t))
	b.WriteString(eval[string](t, tb, `document.documentElement.outerHTML`))
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, s := range tb.console {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.String()
}

// traffic returns the page's HTTP traffic: all captured network events
// (requests and responses with their headers) and the bodies of all
// finished responses. The data channel's events are not in it.
func (tb *tab) traffic(t *testing.T) string {
	t.Helper()
	tb.mu.Lock()
	ids := append([]network.RequestID(nil), tb.finished...)
	tb.mu.Unlock()
	var b strings.Builder
	for _, id := range ids {
		res, err := chromedp.Call(tb.ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
		if err == nil {
			b.Write(res.Body)
			b.WriteByte('\n')
		}
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, s := range tb.network {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.String()
}

func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RTGATE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (tb *tab) screenshot(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactsDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

// TestDemoSessionInChromium runs a whole voice session from the demo page in
// both modes: page, microphone, token or proxied offer, SDP exchange, data
// channel, media both ways, under rtgate's own headers.
func TestDemoSessionInChromium(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	bctx := newBrowser(t)

	for _, mode := range []string{"token", "call"} {
		t.Run(mode, func(t *testing.T) {
			mintedBefore := len(st.in.Sim.Minted())
			callsBefore := st.in.Sim.Calls()
			newCalls := func() []string {
				var out []string
				for _, c := range st.in.Sim.Calls() {
					if !slices.Contains(callsBefore, c) {
						out = append(out, c)
					}
				}
				return out
			}
			tb := openTab(t, bctx)
			tb.do(t, chromedp.Navigate(st.origin+"/"))
			tb.do(t, chromedp.Click(chromedp.CSS(`input[name="mode"][value="`+mode+`"]`)))
			tb.do(t, chromedp.Click(chromedp.ID("start")))

			tb.waitFor(t, "session.created on oai-events", `!!document.querySelector('#events li[data-type="session.created"]')`)
			tb.waitFor(t, "the peer connection to reach connected", `document.getElementById("pc-state").dataset.state === "connected"`)
			tb.waitFor(t, "session.updated after the page's session.update", `!!document.querySelector('#events li[data-type="session.updated"]')`)
			tb.waitFor(t, "remote audio energy above zero", `parseFloat(document.getElementById("energy").dataset.max) > 0.001`)
			if first := eval[string](t, tb, `document.querySelector("#events li").dataset.type`); first != "session.created" {
				t.Errorf("first event = %q, want session.created", first)
			}
			created := newCalls()
			if len(created) != 1 {
				t.Errorf("upstream calls created = %d, want 1", len(created))
			}
			path := tb.screenshot(t, "demo-"+mode+"-connected.png")
			if mode == "call" && os.Getenv("RTGATE_UPDATE_SCREENSHOT") != "" {
				copyFile(t, path, filepath.Join("..", "..", "docs", "demo-connected.png"))
			}

			tb.do(t, chromedp.Click(chromedp.ID("stop")))
			tb.waitFor(t, "the page to show the session stopped", `document.getElementById("pc-state").dataset.state === "closed"`)

			all := tb.everything(t)
			if strings.Contains(all, st.in.Key) {
				t.Error("the API key appears in the page, its traffic or its console")
			}
			minted := st.in.Sim.Minted()[mintedBefore:]
			switch mode {
			case "token":
				// The capture does see secrets: the ek_ the page used is in it.
				if len(minted) != 1 || !strings.Contains(all, minted[0]) {
					t.Errorf("token mode: minted %d secrets, capture holds the one used: %v", len(minted), len(minted) == 1 && strings.Contains(all, minted[0]))
				}
			case "call":
				if len(minted) != 0 || secretShape.MatchString(all) {
					t.Errorf("call mode: %d secrets minted, an ek_ secret in the page's traffic: %q", len(minted), secretShape.FindString(all))
				}
				if !strings.Contains(all, "/api/realtime-call/call_") {
					t.Error("capture does not show rtgate's call location")
				}
				// Stop both hangs up at rtgate and closes the peer, which
				// the simulator also takes as the end; whichever rtgate
				// sees first (the owner's hang-up, or its sideband), the
				// call ends in its registry and upstream.
				if len(created) == 1 {
					line := waitLog(t, st, `"msg":"call ended"`, `"upstream_call_id":"`+created[0]+`"`)
					if !strings.Contains(line, `"reason":"hangup"`) && !strings.Contains(line, `"reason":"upstream_ended"`) {
						t.Errorf("the call ended for another reason: %s", line)
					}
					if _, live := st.in.Sim.LookupCall(created[0]); live {
						t.Errorf("Stop left the proxied call running upstream")
					}
				}
			}

			if v := eval[[]string](t, tb, `window.__cspViolations`); len(v) != 0 {
				t.Errorf("CSP violations: %v", v)
			}
			// The probe does catch violations: a fetch to an origin the CSP
			// does not list is reported.
			tb.do(t, chromedp.Evaluate[chromedp.Void](`fetch("http://127.0.0.1:9/").catch(() => {})`))
			tb.waitFor(t, "the CSP probe to report a deliberate violation", `window.__cspViolations.some((v) => v.startsWith("connect-src"))`)
		})
	}
}

// TestLeavingThePageHangsUpAProxiedCall: the page's pagehide handler ends
// the call through rtgate (a keepalive fetch), so no call outlives its page.
func TestLeavingThePageHangsUpAProxiedCall(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	bctx := newBrowser(t)
	tb := openTab(t, bctx)
	tb.do(t, chromedp.Navigate(st.origin+"/"))
	tb.do(t, chromedp.Click(chromedp.CSS(`input[name="mode"][value="call"]`)))
	tb.do(t, chromedp.Click(chromedp.ID("start")))
	tb.waitFor(t, "the peer connection to reach connected", `document.getElementById("pc-state").dataset.state === "connected"`)
	calls := st.in.Sim.Calls()
	if len(calls) != 1 {
		t.Fatalf("upstream calls = %d, want 1", len(calls))
	}
	callID := eval[string](t, tb, `document.getElementById("call-id").textContent`)
	tb.do(t, chromedp.Navigate("about:blank"))
	// The page closes its peer (which the simulator, and rtgate's
	// sideband, take as the end) and sends its hang-up to rtgate with a
	// keepalive request: the request arrives and the call is over.
	waitLog(t, st, `"path":"/api/realtime-call/`+callID+`/hangup"`)
	waitLog(t, st, `"msg":"call ended"`, `"upstream_call_id":"`+calls[0]+`"`)
}

// TestQuickStartWithTheBuiltInSimulator is `go run ./cmd/rtgate` with no
// key: the built-in simulator answers with its WebRTC peer, and the page's
// CSP follows it.
func TestQuickStartWithTheBuiltInSimulator(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	origin := "http://127.0.0.1:" + strconv.Itoa(port)
	unused := simulator.New(simulator.Options{APIKeys: []string{"sk-unused"}})
	in := apptest.StartWith(t, unused, "", "", map[string]string{
		"OPENAI_API_KEY": "-", "OPENAI_BASE_URL": "-", "PORT": strconv.Itoa(port), "ALLOWED_ORIGINS": origin,
		"HOST": "127.0.0.1", "RATE_LIMIT_MAX_REQUESTS": "1000", "LOG_LEVEL": "info",
	})
	if !in.Config.Simulated {
		t.Fatal("not in simulated mode")
	}
	// The page's CSP names the built-in simulator's origin, not OpenAI's.
	resp, err := http.Get(in.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' http://127.0.0.1:") {
		t.Fatalf("page CSP does not follow the built-in simulator: %q", csp)
	}
	bctx := newBrowser(t)
	for _, mode := range []string{"token", "call"} {
		t.Run(mode, func(t *testing.T) {
			tb := openTab(t, bctx)
			tb.do(t, chromedp.Navigate(in.URL+"/"))
			tb.do(t, chromedp.Click(chromedp.CSS(`input[name="mode"][value="`+mode+`"]`)))
			tb.do(t, chromedp.Click(chromedp.ID("start")))
			tb.waitFor(t, "the peer connection to reach connected", `document.getElementById("pc-state").dataset.state === "connected"`)
			tb.waitFor(t, "remote audio energy above zero", `parseFloat(document.getElementById("energy").dataset.max) > 0.001`)
			if v := eval[[]string](t, tb, `window.__cspViolations`); len(v) != 0 {
				t.Errorf("CSP violations: %v", v)
			}
		})
	}
}

// TestForeignOriginCannotObtainATokenOrCall serves a page from another
// origin that tries rtgate's endpoints; the browser gets nothing and the
// upstream is never asked.
func TestForeignOriginCannotObtainATokenOrCall(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>foreign</title><body><script>
const out = (k, v) => { document.body.dataset[k] = v; };
fetch(%[1]q + "/api/realtime-session", { method: "POST", credentials: "include" })
  .then((r) => r.text().then((b) => out("mint", "read:" + r.status + ":" + b)))
  .catch((e) => out("mint", "blocked:" + e.name));
fetch(%[1]q + "/api/realtime-call", { method: "POST", body: "v=0\r\n", headers: { "Content-Type": "application/sdp" } })
  .then((r) => r.text().then((b) => out("call", "read:" + r.status + ":" + b)))
  .catch((e) => out("call", "blocked:" + e.name));
</script></body>`, st.origin)
	}))
	t.Cleanup(foreign.Close)

	requestsBefore := st.in.Sim.Requests()
	bctx := newBrowser(t)
	tb := openTab(t, bctx)
	tb.do(t, chromedp.Navigate(foreign.URL+"/"))
	tb.waitFor(t, "both fetches to settle", `!!document.body.dataset.mint && !!document.body.dataset.call`)
	for _, k := range []string{"mint", "call"} {
		if got := eval[string](t, tb, `document.body.dataset.`+k); got != "blocked:TypeError" {
			t.Errorf("%s from a foreign origin: %q, want blocked:TypeError", k, got)
		}
	}
	if got := st.in.Sim.Requests(); got != requestsBefore {
		t.Errorf("upstream requests %d → %d: a foreign origin reached OpenAI", requestsBefore, got)
	}
	// rtgate itself refused them (403), not only the browser.
	logs := st.in.Logs.String()
	for _, path := range []string{"/api/realtime-session", "/api/realtime-call"} {
		if !hasAccessLine(logs, path, http.StatusForbidden) {
			t.Errorf("no 403 access line for %s", path)
		}
	}
}

func hasAccessLine(logs, path string, status int) bool {
	for _, line := range strings.Split(logs, "\n") {
		var l struct {
			Msg    string `json:"msg"`
			Path   string `json:"path"`
			Status int    `json:"status"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "request" && l.Path == path && l.Status == status {
			return true
		}
	}
	return false
}

// TestMicrophoneDeniedShowsAClearMessage denies the microphone to the page's
// origin: the page says so and asks nothing of rtgate or the upstream.
func TestMicrophoneDeniedShowsAClearMessage(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	bctx := startBrowser(t, false)
	if _, err := chromedp.CallBrowser(bctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "microphone"},
		Setting:    browser.PermissionSettingDenied,
		Origin:     st.origin,
	}); err != nil {
		t.Fatal(err)
	}
	requestsBefore := st.in.Sim.Requests()
	tb := openTab(t, bctx)
	tb.do(t, chromedp.Navigate(st.origin+"/"))
	tb.do(t, chromedp.Click(chromedp.ID("start")))
	tb.waitFor(t, "the error message", `!document.getElementById("message").hidden`)
	msg := eval[string](t, tb, `document.getElementById("message").textContent`)
	if !strings.Contains(msg, "Microphone access was denied") {
		t.Errorf("message = %q", msg)
	}
	if eval[bool](t, tb, `document.getElementById("start").disabled`) {
		t.Error("Start stays disabled after the refusal")
	}
	if got := st.in.Sim.Requests(); got != requestsBefore {
		t.Errorf("upstream was asked (%d → %d) although the microphone was denied", requestsBefore, got)
	}
	tb.screenshot(t, "demo-microphone-denied.png")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("updated %s", to)
}
