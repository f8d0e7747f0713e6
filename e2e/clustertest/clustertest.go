// Package clustertest runs rtgate as real processes for end-to-end tests:
// any number of instances sharing one environment, one real redis-server
// and one OpenAI simulator (in the test process, on loopback, so the test
// can see what reached "OpenAI"), JWT users, the public API and the
// operator API. Processes can be stopped gracefully, killed and started
// again on the same Redis.
//
// Build the binary once per package, in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }
//
// then in a test:
//
//	c := clustertest.New(t, map[string]string{"USER_SESSION_MAX_SECONDS": "3"})
//	a, b := c.Start(t), c.Start(t)
//	call := a.CreateCall(t, c.Bearer(t, "alice"))
//	b.Hangup(t, call, c.Bearer(t, "alice"))   // *apptest.Response
//	c.WaitHungUp(t, call)                      // the simulator saw it
//	live := a.CreateLive(t, c.Bearer(t, "alice")) // a GPT-Live session
//	a.Kill(t); a = a.Restart(t)
//	b.Admin(t, "POST", "/admin/users/alice/block", "")
//
// Calls are created one at a time per Cluster (CreateCall finds the
// upstream id by comparing the simulator's live calls before and after).
package clustertest

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/auth/authtest"
	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
	"github.com/rtgate/rtgate/internal/simulator"
)

// Offer is apptest.Offer, the trimmed browser offer the tests post.
const Offer = apptest.Offer

// WaitTimeout bounds every wait for an event (a process up, a hang-up seen,
// a log line): generous, since the machine may be loaded. Tests never
// assert how long an event took.
const WaitTimeout = 60 * time.Second

// bin is the rtgate binary Main built.
var bin string

// Main builds cmd/rtgate once into a temporary directory and runs the
// package's tests; use it as TestMain's body. It returns the exit code.
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "rtgate-clustertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if bin, err = apptest.BuildBinary(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// Cluster is the shared ground of a test's instances: one redis-server,
// one simulator and one environment. Everything stops at test cleanup.
type Cluster struct {
	// Redis is the real redis-server every instance uses (REDIS_URL).
	Redis *redistest.Server
	// Sim is the simulator every instance calls (OPENAI_BASE_URL).
	Sim *simulator.Simulator
	// SimURL is the simulator's base URL, with /v1.
	SimURL string
	// Key is the OpenAI key the simulator accepts (OPENAI_API_KEY).
	Key string
	// JWTSecret signs users' tokens (AUTH_JWT_SECRET, HS256).
	JWTSecret string
	// AdminToken opens the operator API (ADMIN_TOKEN).
	AdminToken string

	env      map[string]string
	createMu sync.Mutex
}

// New starts a redis-server and a simulator and returns the Cluster whose
// instances all get this environment: development mode on loopback ports
// the kernel picks, the simulator's URL and key, REDIS_URL with a fresh
// REDIS_KEY_PREFIX, AUTH_MODE=jwt with AUTH_JWT_SECRET, ADMIN_TOKEN,
// RECORD_HASH_SECRET, LOG_LEVEL=info and a per-IP limit high enough for
// tests (1000 per minute); env overrides or adds entries ("-" removes one).
func New(t testing.TB, env map[string]string) *Cluster {
	t.Helper()
	if bin == "" {
		t.Fatal("clustertest: no binary; call clustertest.Main from TestMain")
	}
	c := &Cluster{
		Redis:      redistest.Start(t),
		Key:        apptest.RandomKey(),
		JWTSecret:  randomHex(32),
		AdminToken: randomHex(32),
	}
	c.Sim = simulator.New(simulator.Options{APIKeys: []string{c.Key}})
	srv := httptest.NewServer(c.Sim)
	t.Cleanup(srv.Close)
	c.SimURL = srv.URL + "/v1"
	c.env = BaseEnv(t)
	maps.Copy(c.env, map[string]string{
		"OPENAI_API_KEY":          c.Key,
		"OPENAI_BASE_URL":         c.SimURL,
		"REDIS_URL":               c.Redis.URL(),
		"REDIS_KEY_PREFIX":        "e2e" + randomHex(4) + ":",
		"AUTH_MODE":               "jwt",
		"AUTH_JWT_SECRET":         c.JWTSecret,
		"ADMIN_TOKEN":             c.AdminToken,
		"RECORD_HASH_SECRET":      randomHex(32),
		"RATE_LIMIT_MAX_REQUESTS": "1000",
	})
	for k, v := range env {
		if v == "-" {
			delete(c.env, k)
		} else {
			c.env[k] = v
		}
	}
	return c
}

// BaseEnv is the least environment an rtgate process needs in a test:
// development mode (the built-in simulator when no OPENAI_API_KEY is
// added), both listeners on loopback ports the kernel picks, info logs,
// PATH, and a HOME of its own.
func BaseEnv(t testing.TB) map[string]string {
	return map[string]string{
		"PATH":       os.Getenv("PATH"),
		"HOME":       t.TempDir(),
		"APP_ENV":    "development",
		"HOST":       "127.0.0.1",
		"PORT":       "0",
		"ADMIN_ADDR": "127.0.0.1:0",
		"LOG_LEVEL":  "info",
	}
}

// Env returns a copy of the environment every instance gets.
func (c *Cluster) Env() map[string]string { return maps.Clone(c.env) }

// Token returns a JWT for user, signed with the cluster's secret, valid
// for an hour.
func (c *Cluster) Token(t testing.TB, user string) string {
	t.Helper()
	return authtest.HS256(t, []byte(c.JWTSecret), "", authtest.Claims(user, "", "", time.Now()))
}

// Bearer returns the Authorization header line for user's JWT.
func (c *Cluster) Bearer(t testing.TB, user string) string {
	t.Helper()
	return "Authorization: Bearer " + c.Token(t, user)
}

// Instance is one running rtgate process.
type Instance struct {
	// URL is the public listener's base URL; AdminURL the admin one's.
	URL, AdminURL string
	// Client talks to the instance (30 s timeout).
	Client *http.Client

	c      *Cluster // nil for a process started by Run
	env    map[string]string
	wrap   []string
	logs   *apptest.Buffer
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// Start runs one more `rtgate serve` with the cluster's environment and
// env over it, and returns once it listens and answers /healthz. It is
// stopped (SIGTERM, then SIGKILL) at test cleanup; its log is printed if
// the test failed.
func (c *Cluster) Start(t testing.TB, env ...map[string]string) *Instance {
	t.Helper()
	e := c.Env()
	for _, m := range env {
		for k, v := range m {
			if v == "-" {
				delete(e, k)
			} else {
				e[k] = v
			}
		}
	}
	return c.start(t, e)
}

func (c *Cluster) start(t testing.TB, env map[string]string) *Instance {
	t.Helper()
	return launch(t, c, env, nil)
}

// Run starts one `rtgate serve` outside any Cluster, with exactly env as
// its environment and the command run through wrap (for example prlimit
// and its arguments, which must exec rtgate in its own place). It returns
// once the process listens and answers /healthz, and stops it at test
// cleanup, as Cluster.Start does. The package's TestMain must be Main.
func Run(t testing.TB, env map[string]string, wrap ...string) *Instance {
	t.Helper()
	return launch(t, nil, env, wrap)
}

// launch starts the process of an Instance of c (nil outside a Cluster).
func launch(t testing.TB, c *Cluster, env map[string]string, wrap []string) *Instance {
	t.Helper()
	kv := make([]string, 0, len(env))
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	argv := append(slices.Clone(wrap), bin, "serve")
	cmd := exec.Command(argv[0], argv[1:]...)
	dieWithParent(cmd)
	cmd.Env = kv
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &apptest.Buffer{}
	cmd.Stdout = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &Instance{c: c, env: env, wrap: wrap, logs: logs, cmd: cmd, exited: make(chan struct{}), Client: &http.Client{Timeout: 30 * time.Second}}
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			_, _ = logs.Write([]byte(line + "\n"))
			var rec struct {
				Msg, Addr string
				AdminAddr string `json:"admin_addr"`
			}
			if !sent && json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "rtgate listening" {
				addrs <- [2]string{rec.Addr, rec.AdminAddr}
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { _ = cmd.Wait(); close(in.exited) }()
	t.Cleanup(func() {
		in.Stop(t)
		if t.Failed() {
			t.Logf("rtgate %s (pid %d) log:\n%s", in.URL, cmd.Process.Pid, logs.String())
		}
	})
	select {
	case a := <-addrs:
		in.URL = "http://" + a[0]
		if a[1] != "" {
			in.AdminURL = "http://" + a[1]
		}
	case <-in.exited:
		t.Fatalf("rtgate exited during start-up:\n%s", logs.String())
	case <-time.After(WaitTimeout):
		t.Fatalf("rtgate did not report its address:\n%s", logs.String())
	}
	in.waitHealthy(t)
	return in
}

func (in *Instance) waitHealthy(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for {
		resp, err := in.Client.Get(in.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy: %v", in.URL, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the process gracefully (SIGTERM: it drains and leaves the
// call registry) and waits for it; after 30 s it is killed.
func (in *Instance) Stop(t testing.TB) {
	t.Helper()
	in.once.Do(func() {
		_ = in.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-in.exited:
		case <-time.After(30 * time.Second):
			t.Errorf("rtgate %s did not stop on SIGTERM; killing it", in.URL)
			_ = in.cmd.Process.Kill()
			<-in.exited
		}
	})
}

// Kill ends the process at once (SIGKILL: no drain, no leave) and waits
// for it.
func (in *Instance) Kill(t testing.TB) {
	t.Helper()
	in.once.Do(func() {
		_ = in.cmd.Process.Kill()
		<-in.exited
	})
}

// Restart starts a new process with the same environment on the same
// Redis, after stopping this one if it still runs (gracefully). The new
// process has new ports and a new call-registry instance id.
func (in *Instance) Restart(t testing.TB) *Instance {
	t.Helper()
	in.Stop(t)
	return launch(t, in.c, in.env, in.wrap)
}

// Logs returns the process's log so far (JSON lines).
func (in *Instance) Logs() string { return in.logs.String() }

// WaitLog waits until the process's log holds s.
func (in *Instance) WaitLog(t testing.TB, s string) {
	t.Helper()
	waitFor(t, "log line "+s, func() bool { return strings.Contains(in.logs.String(), s) })
}

// WaitLine waits until one line of the process's log holds every one of
// parts, and returns it.
func (in *Instance) WaitLine(t testing.TB, parts ...string) string {
	t.Helper()
	var found string
	waitFor(t, fmt.Sprintf("a log line with %q", parts), func() bool {
		for line := range strings.Lines(in.logs.String()) {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				found = line
				return true
			}
		}
		return false
	})
	return found
}

// WaitFor waits (up to WaitTimeout) until cond holds.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitFor(t, what, cond)
}

// Do sends one request to the public listener; headers are "Name: value".
func (in *Instance) Do(t testing.TB, method, path, body string, headers ...string) *apptest.Response {
	t.Helper()
	return apptest.DoURL(t, in.Client, method, in.URL+path, body, headers...)
}

// Admin sends one request to the operator API with ADMIN_TOKEN, and a JSON
// content type when body is not empty.
func (in *Instance) Admin(t testing.TB, method, path, body string) *apptest.Response {
	t.Helper()
	if in.AdminURL == "" {
		t.Fatal("clustertest: the admin listener is off (ADMIN_ADDR)")
	}
	h := []string{"Authorization: Bearer " + in.c.AdminToken}
	if body != "" {
		h = append(h, "Content-Type: application/json")
	}
	return apptest.DoURL(t, in.Client, method, in.AdminURL+path, body, h...)
}

// Call is a call (or GPT-Live session) created through rtgate's SDP proxy.
type Call struct {
	// Location is rtgate's URL path of the call (/api/realtime-call/call_…
	// or /api/live-session/call_…).
	Location string
	// Token is the hang-up token of an anonymous call ("" for a user's).
	Token string
	// Answer is the SDP answer.
	Answer string
	// UpstreamID is the simulator's id of the call (never shown by rtgate).
	UpstreamID string
}

// CreateCall posts Offer to POST /api/realtime-call with headers (for
// example Cluster.Bearer) and fails the test unless the answer is 201 and
// exactly one new call appeared upstream.
func (in *Instance) CreateCall(t testing.TB, headers ...string) *Call {
	t.Helper()
	return in.create(t, "/api/realtime-call", in.c.Sim.Calls, headers)
}

// CreateLive is CreateCall for a GPT-Live session (POST /api/live-session).
func (in *Instance) CreateLive(t testing.TB, headers ...string) *Call {
	t.Helper()
	return in.create(t, "/api/live-session", in.c.Sim.LiveSessions, headers)
}

func (in *Instance) create(t testing.TB, route string, running func() []string, headers []string) *Call {
	t.Helper()
	c := in.c
	c.createMu.Lock()
	defer c.createMu.Unlock()
	before := running()
	r := in.Do(t, "POST", route, Offer, append([]string{"Content-Type: application/sdp"}, headers...)...)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create at %s%s: %d %s", in.URL, route, r.StatusCode, r.Body)
	}
	var fresh []string
	for _, id := range running() {
		if !slices.Contains(before, id) {
			fresh = append(fresh, id)
		}
	}
	if len(fresh) != 1 {
		t.Fatalf("create at %s: %d new upstream sessions, want 1", route, len(fresh))
	}
	return &Call{Location: r.Header.Get("Location"), Token: r.Header.Get("X-Call-Token"), Answer: r.Body, UpstreamID: fresh[0]}
}

// Hangup posts the owner's hang-up of call (its token in the body for an
// anonymous call, headers for a user's) and returns the response.
func (in *Instance) Hangup(t testing.TB, call *Call, headers ...string) *apptest.Response {
	t.Helper()
	body := ""
	if call.Token != "" {
		body = `{"call_token":"` + call.Token + `"}`
		headers = append(headers, "Content-Type: application/json")
	}
	return in.Do(t, "POST", call.Location+"/hangup", body, headers...)
}

// HungUp reports whether the simulator received a hang-up of call and no
// longer knows it.
func (c *Cluster) HungUp(call *Call) bool {
	_, live := c.Sim.LookupCall(call.UpstreamID)
	return !live && c.Sim.Hits("/v1/realtime/calls/"+call.UpstreamID+"/hangup") > 0
}

// WaitHungUp waits until the simulator has seen call hung up.
func (c *Cluster) WaitHungUp(t testing.TB, call *Call) {
	t.Helper()
	waitFor(t, "hang-up of "+call.UpstreamID, func() bool { return c.HungUp(call) })
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(WaitTimeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("clustertest: no %s within %v", what, WaitTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
