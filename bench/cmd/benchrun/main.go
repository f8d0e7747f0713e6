// Command benchrun is the comparative benchmark behind scripts/bench.sh:
// the floor (a bare net/http forwarder), rtgate and the guide-style Express
// app, each in front of the same 0 ms fake upstream, loaded by wrk in
// alternating rounds on loopback. It writes the medians, ratios to the
// floor, p99 and CPU per request as JSON, draws the charts (SVG), and
// rewrites the marked result sections of the README and
// docs/performance.md from that JSON.
//
// It expects its programs built (scripts/bench.sh does that):
//
//	benchrun -bin DIR -express DIR -repo DIR [-out docs/bench] [flags]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	bin, express, repo, out, work string
	node, wrk                     string
	duration, warmup              time.Duration
	rounds, conns                 int
	sweepConns                    []int
	sweepDuration                 time.Duration
	sweepRounds                   int
	scaleFile                     string
	skipExpress                   bool
	maxLoad                       float64
}

func main() {
	var c config
	var sweep string
	flag.StringVar(&c.bin, "bin", "", "directory holding the built rtgate, floor and upstream")
	flag.StringVar(&c.express, "express", "", "directory of the Express app with its node_modules installed")
	flag.StringVar(&c.repo, "repo", ".", "the repository root (README.md, docs/)")
	flag.StringVar(&c.out, "out", "docs/bench", "where results.json and the charts go, relative to -repo")
	flag.StringVar(&c.work, "work", os.TempDir(), "scratch directory (process logs, wrk scripts)")
	flag.StringVar(&c.node, "node", "node", "node binary")
	flag.StringVar(&c.wrk, "wrk", "wrk", "wrk binary")
	flag.DurationVar(&c.duration, "duration", 8*time.Second, "length of one measured wrk run")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured run per target before each scenario")
	flag.IntVar(&c.rounds, "rounds", 3, "alternating rounds per scenario (the median is reported)")
	flag.IntVar(&c.conns, "conns", 64, "wrk connections for the main scenarios")
	flag.StringVar(&sweep, "sweep", "1,16,64,256", "connection counts of the mint latency sweep (floor and rtgate); empty to skip")
	flag.DurationVar(&c.sweepDuration, "sweep-duration", 5*time.Second, "length of one sweep run")
	flag.IntVar(&c.sweepRounds, "sweep-rounds", 3, "alternating rounds per sweep point")
	flag.StringVar(&c.scaleFile, "scale", "", "output of go test -bench BenchmarkLimiterScale (optional)")
	flag.BoolVar(&c.skipExpress, "skip-express", false, "leave the Express app out")
	flag.Float64Var(&c.maxLoad, "max-load", 1.0, "warn when the 1-minute load average before the run is above this")
	replot := flag.Bool("replot", false, "only redraw the charts and rewrite the report sections from -out/results.json")
	microBase := flag.String("micro-base", "", "micro mode: go test -bench output of the base revision")
	microHead := flag.String("micro-head", "", "micro mode: go test -bench output of the head revision")
	microRevs := flag.String("micro-revs", "base,head", "micro mode: the two revisions' names")
	microCmd := flag.String("micro-cmd", "scripts/bench-micro.sh", "micro mode: the command that produced the outputs")
	flag.Parse()
	if *microBase != "" {
		revs := strings.SplitN(*microRevs+",", ",", 3)
		if err := microReport(c, *microBase, *microHead, revs[0], revs[1], *microCmd); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *replot {
		if err := replotResults(c); err != nil {
			log.Fatal(err)
		}
		return
	}
	for _, s := range strings.Split(sweep, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			log.Fatalf("bad -sweep entry %q", s)
		}
		c.sweepConns = append(c.sweepConns, n)
	}
	if c.bin == "" || (c.express == "" && !c.skipExpress) {
		log.Fatal("-bin and -express are required (or -skip-express)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		log.Fatal(err)
	}
}

// target is one system under test in one scenario: the process that
// serves it and the URL wrk loads.
type target struct {
	name string
	p    *proc
	url  string
}

type scenarioDef struct {
	name, title string
	post        bool
	flood       bool // every answer is expected to be a 429
	targets     []target
}

func run(ctx context.Context, c config) (err error) {
	res := &Results{Meta: newMeta(c)}
	if res.Meta.LoadBefore[0] > c.maxLoad {
		log.Printf("WARNING: load average %.2f before the run (more than %.1f): other processes share the cores; rerun on a quiet machine for figures to publish", res.Meta.LoadBefore[0], c.maxLoad)
	}
	var procs []*proc
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
	}()
	launch := func(name, dir string, env []string, readyPath string, bin string, args ...string) (*proc, error) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		env = append(env, "PORT="+strconv.Itoa(port))
		args = slices.Clone(args)
		for i, a := range args {
			args[i] = strings.ReplaceAll(a, "{port}", strconv.Itoa(port))
		}
		p, err := start(name, filepath.Join(c.work, name+".log"), dir, env, bin, args...)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
		p.base = "http://127.0.0.1:" + strconv.Itoa(port)
		p.ready = p.base + readyPath
		return p, p.waitReady(ctx, 15*time.Second)
	}

	up, err := launch("upstream", c.work, nil, "/", filepath.Join(c.bin, "upstream"), "-addr", "127.0.0.1:{port}")
	if err != nil {
		return err
	}
	upstreamURL := up.base + "/v1"
	const key = "sk-bench-not-a-real-key"
	const origin = "https://app.example.com"

	floor, err := launch("floor", c.work, nil, "/_mallocs", filepath.Join(c.bin, "floor"), "-addr", "127.0.0.1:{port}", "-upstream", upstreamURL, "-key", key)
	if err != nil {
		return err
	}
	floor.mallocs = plainMallocs(floor.base + "/_mallocs")

	rtgate := func(name string, limit, windowMS int) (*proc, error) {
		admin, err := freePort()
		if err != nil {
			return nil, err
		}
		env := []string{
			"APP_ENV=development", // production requires an https upstream; the pipeline is the same
			"OPENAI_API_KEY=" + key, "OPENAI_BASE_URL=" + upstreamURL,
			"HOST=127.0.0.1", "ADMIN_ADDR=127.0.0.1:" + strconv.Itoa(admin),
			"ALLOWED_ORIGINS=" + origin, "AUTH_MODE=none", "DEMO_PAGE=false", "REQUIRE_HTTPS=false",
			"LOG_LEVEL=info",
			"RATE_LIMIT_MAX_REQUESTS=" + strconv.Itoa(limit), "RATE_LIMIT_WINDOW_MS=" + strconv.Itoa(windowMS),
		}
		p, err := launch(name, c.work, env, "/healthz", filepath.Join(c.bin, "rtgate"), "serve")
		if err != nil {
			return nil, err
		}
		p.mallocs = promMallocs("http://127.0.0.1:" + strconv.Itoa(admin) + "/metrics")
		return p, nil
	}
	rtMint, err := rtgate("rtgate-mint", 1_000_000, 1000)
	if err != nil {
		return err
	}
	rtFlood, err := rtgate("rtgate-flood", 1, 60000)
	if err != nil {
		return err
	}

	var exMint, exFlood *proc
	if !c.skipExpress {
		express := func(name string, limit, windowMS int) (*proc, error) {
			env := []string{
				"NODE_ENV=production", "OPENAI_API_KEY=" + key, "OPENAI_BASE_URL=" + upstreamURL,
				"ALLOWED_ORIGINS=" + origin,
				"RATE_LIMIT_MAX_REQUESTS=" + strconv.Itoa(limit), "RATE_LIMIT_WINDOW_MS=" + strconv.Itoa(windowMS),
			}
			// The guide's readers serve the route without a health path;
			// any answer (404) means it is up.
			return launch(name, c.express, env, "/healthz", c.node, "server.js")
		}
		if exMint, err = express("express-mint", 1_000_000_000, 60000); err != nil {
			return err
		}
		if exFlood, err = express("express-flood", 1, 60000); err != nil {
			return err
		}
	}

	postScript := filepath.Join(c.work, "post.lua")
	if err := os.WriteFile(postScript, []byte("wrk.method = \"POST\"\nwrk.body = '{\"voice\":\"marin\"}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"), 0o644); err != nil {
		return err
	}
	mintPath, floodPath := "/api/realtime-session", "/api/realtime-session"
	scenarios := []scenarioDef{
		{name: "get_mint", title: "GET mint", targets: []target{{"floor", floor, floor.base + mintPath}, {"rtgate", rtMint, rtMint.base + mintPath}}},
		{name: "post_mint", title: "POST mint", post: true, targets: []target{{"floor", floor, floor.base + mintPath}, {"rtgate", rtMint, rtMint.base + mintPath}}},
		{name: "flood_429", title: "429 under a flood", flood: true, targets: []target{{"floor", floor, floor.base + floodPath + "/429"}, {"rtgate", rtFlood, rtFlood.base + floodPath}}},
	}
	if !c.skipExpress {
		scenarios[0].targets = append(scenarios[0].targets, target{"express", exMint, exMint.base + mintPath})
		scenarios[1].targets = append(scenarios[1].targets, target{"express", exMint, exMint.base + mintPath})
		scenarios[2].targets = append(scenarios[2].targets, target{"express", exFlood, exFlood.base + floodPath})
	}

	for _, sd := range scenarios {
		sc, err := runScenario(ctx, c, sd, c.conns, c.duration, c.rounds, postScript)
		if err != nil {
			return err
		}
		res.Scenarios = append(res.Scenarios, sc)
	}
	if len(c.sweepConns) > 0 {
		sd := scenarios[0]
		sd.targets = sd.targets[:2] // floor and rtgate
		for _, n := range c.sweepConns {
			sc, err := runScenario(ctx, c, sd, n, c.sweepDuration, c.sweepRounds, postScript)
			if err != nil {
				return err
			}
			for _, s := range sc.Summary {
				res.Sweep = append(res.Sweep, SweepPoint{Conns: n, Summary: s})
			}
		}
	}
	if c.scaleFile != "" {
		if res.Scale, err = parseScale(c.scaleFile); err != nil {
			return err
		}
	}
	res.Meta.LoadAfter = loadAvg()
	res.Meta.Finished = time.Now().UTC().Format(time.RFC3339)
	return res.write(c)
}

// runScenario runs the scenario's targets in alternating rounds: round r
// starts with target r mod n, so no target always follows the same one.
func runScenario(ctx context.Context, c config, sd scenarioDef, conns int, d time.Duration, rounds int, postScript string) (Scenario, error) {
	sc := Scenario{Name: sd.name, Title: sd.title, Connections: conns}
	mk := func(t target, dur time.Duration) wrkRun {
		w := wrkRun{url: t.url, conns: conns, duration: dur, headers: []string{"Origin: https://app.example.com"}}
		if sd.post {
			w.script = postScript
		}
		return w
	}
	log.Printf("== %s, %d connections: warm-up %v per target, then %d rounds of %v", sd.title, conns, c.warmup, rounds, d)
	if c.warmup > 0 {
		for _, t := range sd.targets {
			if _, _, err := mk(t, c.warmup).run(ctx, c.wrk); err != nil {
				return sc, err
			}
		}
	}
	for r := range rounds {
		for i := range sd.targets {
			t := sd.targets[(i+r)%len(sd.targets)]
			run, err := measure(ctx, c, t, mk(t, d))
			if err != nil {
				return sc, err
			}
			run.Round = r + 1
			run.Problems = check(sd, run)
			for _, p := range run.Problems {
				log.Printf("WARNING: %s %s round %d: %s", sd.title, t.name, r+1, p)
			}
			log.Printf("   round %d %-8s %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  cpu %6.1f µs/req  (load %.2f)",
				r+1, t.name, run.RPS, run.P50ms, run.P99ms, run.CPUPerReqUS, run.Load1)
			sc.Runs = append(sc.Runs, run)
		}
	}
	sc.summarize(sd)
	return sc, ctx.Err()
}

func measure(ctx context.Context, c config, t target, w wrkRun) (Run, error) {
	run := Run{Target: t.name, Load1: loadAvg()[0]}
	cpu0, err := t.p.cpuTime()
	if err != nil {
		return run, fmt.Errorf("%s: %w", t.p.name, err)
	}
	var m0 uint64
	haveMallocs := t.p.mallocs != nil
	if haveMallocs {
		if m0, err = t.p.mallocs(); err != nil {
			haveMallocs = false
		}
	}
	wr, _, err := w.run(ctx, c.wrk)
	if err != nil {
		return run, err
	}
	cpu1, err := t.p.cpuTime()
	if err != nil {
		return run, fmt.Errorf("%s: %w", t.p.name, err)
	}
	run.wrkResult = wr
	if wr.Requests > 0 {
		run.CPUPerReqUS = float64((cpu1 - cpu0).Microseconds()) / float64(wr.Requests)
		if haveMallocs {
			if m1, err := t.p.mallocs(); err == nil && m1 >= m0 {
				a := float64(m1-m0) / float64(wr.Requests)
				run.AllocsPerReq = &a
			}
		}
	}
	return run, nil
}

// check lists what makes a run suspect: errors, or answers other than
// the scenario's (all 2xx for a mint, all 429 for the flood, but for the
// one request a window admits).
func check(sd scenarioDef, r Run) []string {
	var p []string
	if r.Requests == 0 {
		return []string{"no requests completed"}
	}
	if r.SocketErrors > 0 {
		p = append(p, fmt.Sprintf("%d socket errors", r.SocketErrors))
	}
	if sd.flood {
		if ok := r.Requests - r.Non2xx; ok > 2 {
			p = append(p, fmt.Sprintf("%d of %d flood requests were admitted", ok, r.Requests))
		}
	} else if r.Non2xx > 0 {
		p = append(p, fmt.Sprintf("%d of %d mint requests were not 2xx", r.Non2xx, r.Requests))
	}
	return p
}

func newMeta(c config) Meta {
	m := Meta{
		Started:       time.Now().UTC().Format(time.RFC3339),
		GoVersion:     runtime.Version(),
		Cores:         runtime.NumCPU(),
		CPU:           cpuModel(),
		LoadBefore:    loadAvg(),
		Duration:      c.duration.String(),
		Warmup:        c.warmup.String(),
		Rounds:        c.rounds,
		Connections:   c.conns,
		SweepConns:    c.sweepConns,
		SweepDuration: c.sweepDuration.String(),
		SweepRounds:   c.sweepRounds,
		Wrk:           wrkVersion(c.wrk),
	}
	if !c.skipExpress {
		m.Node = firstLine(exec.Command(c.node, "--version"))
		m.Express = expressVersions(c.express)
	}
	return m
}

// wrkVersion is "wrk <version>" from wrk -v's banner.
func wrkVersion(bin string) string {
	f := strings.Fields(firstLine(exec.Command(bin, "-v")))
	if len(f) < 2 {
		return strings.Join(f, " ")
	}
	return f[0] + " " + f[1]
}

func firstLine(cmd *exec.Cmd) string {
	out, _ := cmd.CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

var errNoResults = errors.New("no results")

func replotResults(c config) error {
	b, err := os.ReadFile(filepath.Join(c.repo, c.out, "results.json"))
	if err != nil {
		return err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	return r.write(c)
}
