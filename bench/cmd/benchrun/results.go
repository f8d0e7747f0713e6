package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Results is docs/bench/results.json.
type Results struct {
	Meta      Meta         `json:"meta"`
	Scenarios []Scenario   `json:"scenarios"`
	Sweep     []SweepPoint `json:"sweep,omitempty"`
	Scale     []ScalePoint `json:"scale,omitempty"`
}

// Meta describes the run: machine, load, tools and settings.
type Meta struct {
	Started       string            `json:"started"`
	Finished      string            `json:"finished"`
	GoVersion     string            `json:"go_version"`
	CPU           string            `json:"cpu"`
	Cores         int               `json:"cores"`
	LoadBefore    [3]float64        `json:"load_before"`
	LoadAfter     [3]float64        `json:"load_after"`
	Wrk           string            `json:"wrk"`
	Node          string            `json:"node,omitempty"`
	Express       map[string]string `json:"express_packages,omitempty"`
	Duration      string            `json:"duration"`
	Warmup        string            `json:"warmup"`
	Rounds        int               `json:"rounds"`
	Connections   int               `json:"connections"`
	SweepConns    []int             `json:"sweep_connections,omitempty"`
	SweepDuration string            `json:"sweep_duration,omitempty"`
	SweepRounds   int               `json:"sweep_rounds,omitempty"`
}

// Run is one measured wrk run against one target.
type Run struct {
	Round  int    `json:"round"`
	Target string `json:"target"`
	wrkResult
	// CPUPerReqUS is the target process's user+system CPU time over the
	// run (from /proc) divided by the requests wrk completed.
	CPUPerReqUS float64 `json:"cpu_us_per_request"`
	// AllocsPerReq is the heap objects the (Go) target allocated over the
	// run divided by the requests.
	AllocsPerReq *float64 `json:"allocs_per_request,omitempty"`
	Load1        float64  `json:"load1"`
	Problems     []string `json:"problems,omitempty"`
}

// Summary is the median over a target's rounds, and its ratios to the floor.
type Summary struct {
	Target       string   `json:"target"`
	RPS          float64  `json:"rps"`
	P50ms        float64  `json:"p50_ms"`
	P90ms        float64  `json:"p90_ms"`
	P99ms        float64  `json:"p99_ms"`
	CPUPerReqUS  float64  `json:"cpu_us_per_request"`
	AllocsPerReq *float64 `json:"allocs_per_request,omitempty"`
	// RPSRatio is RPS / the floor's RPS; P99AddedMS is P99 minus the
	// floor's; CPURatio is CPU per request / the floor's.
	RPSRatio   float64 `json:"rps_ratio_to_floor"`
	P99AddedMS float64 `json:"p99_added_ms"`
	CPURatio   float64 `json:"cpu_ratio_to_floor"`
	Problems   int     `json:"runs_with_problems"`
}

// Scenario is one load pattern over every target.
type Scenario struct {
	Name        string    `json:"name"`
	Title       string    `json:"title"`
	Connections int       `json:"connections"`
	Runs        []Run     `json:"runs"`
	Summary     []Summary `json:"summary"`
}

// SweepPoint is the GET mint at one connection count.
type SweepPoint struct {
	Conns int `json:"connections"`
	Summary
}

// ScalePoint is BenchmarkLimiterScale at one number of tracked clients.
type ScalePoint struct {
	Clients        int     `json:"clients"`
	NsPerDecision  float64 `json:"ns_per_decision"`
	BytesPerClient float64 `json:"bytes_per_client"`
	AllocsPerOp    float64 `json:"allocs_per_decision"`
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func (sc *Scenario) summarize(sd scenarioDef) {
	sc.Summary = nil
	for _, t := range sd.targets {
		var rps, p50, p90, p99, cpu, allocs []float64
		s := Summary{Target: t.name}
		for _, r := range sc.Runs {
			if r.Target != t.name {
				continue
			}
			rps = append(rps, r.RPS)
			p50 = append(p50, r.P50ms)
			p90 = append(p90, r.P90ms)
			p99 = append(p99, r.P99ms)
			cpu = append(cpu, r.CPUPerReqUS)
			if r.AllocsPerReq != nil {
				allocs = append(allocs, *r.AllocsPerReq)
			}
			if len(r.Problems) > 0 {
				s.Problems++
			}
		}
		s.RPS, s.P50ms, s.P90ms, s.P99ms, s.CPUPerReqUS = median(rps), median(p50), median(p90), median(p99), median(cpu)
		if len(allocs) > 0 {
			a := median(allocs)
			s.AllocsPerReq = &a
		}
		sc.Summary = append(sc.Summary, s)
	}
	var floor *Summary
	for i := range sc.Summary {
		if sc.Summary[i].Target == "floor" {
			floor = &sc.Summary[i]
		}
	}
	for i := range sc.Summary {
		s := &sc.Summary[i]
		if floor != nil && floor.RPS > 0 && floor.CPUPerReqUS > 0 {
			s.RPSRatio = s.RPS / floor.RPS
			s.P99AddedMS = s.P99ms - floor.P99ms
			s.CPURatio = s.CPUPerReqUS / floor.CPUPerReqUS
		}
	}
}

// find returns the summary of target in scenario name.
func (r *Results) find(name, target string) (Summary, bool) {
	for _, sc := range r.Scenarios {
		if sc.Name != name {
			continue
		}
		for _, s := range sc.Summary {
			if s.Target == target {
				return s, true
			}
		}
	}
	return Summary{}, false
}

var reScale = regexp.MustCompile(`^BenchmarkLimiterScale/clients=(\d+)-\d+\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) bytes/client\s+\d+ B/op\s+(\d+) allocs/op`)

// parseScale reads go test -bench BenchmarkLimiterScale output (several
// -count runs give several lines per size; the median is kept).
func parseScale(path string) ([]ScalePoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type acc struct{ ns, bytes, allocs []float64 }
	by := map[int]*acc{}
	var order []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := reScale.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		a := by[n]
		if a == nil {
			a = &acc{}
			by[n] = a
			order = append(order, n)
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		b, _ := strconv.ParseFloat(m[3], 64)
		al, _ := strconv.ParseFloat(m[4], 64)
		a.ns, a.bytes, a.allocs = append(a.ns, ns), append(a.bytes, b), append(a.allocs, al)
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("%s: no BenchmarkLimiterScale lines", path)
	}
	slices.Sort(order)
	var out []ScalePoint
	for _, n := range order {
		a := by[n]
		out = append(out, ScalePoint{Clients: n, NsPerDecision: median(a.ns), BytesPerClient: median(a.bytes), AllocsPerOp: median(a.allocs)})
	}
	return out, sc.Err()
}

// expressVersions reads the installed versions of the Express app's direct
// dependencies.
func expressVersions(dir string) map[string]string {
	out := map[string]string{}
	for _, p := range []string{"express", "helmet", "cors", "express-rate-limit"} {
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", p, "package.json"))
		if err != nil {
			continue
		}
		var v struct{ Version string }
		if json.Unmarshal(b, &v) == nil {
			out[p] = v.Version
		}
	}
	return out
}

// write stores results.json, the charts and the generated report sections.
func (r *Results) write(c config) error {
	if len(r.Scenarios) == 0 {
		return errNoResults
	}
	dir := filepath.Join(c.repo, c.out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := r.charts(dir); err != nil {
		return err
	}
	return r.report(c)
}

// fmtInt renders n with thousands separators.
func fmtInt(n float64) string {
	s := strconv.FormatInt(int64(n+0.5), 10)
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	return b.String()
}
