package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

var targetLabels = map[string]string{
	"floor":   "floor (bare net/http forwarder, no checks)",
	"rtgate":  "rtgate",
	"express": "Express 5 + helmet + cors + express-rate-limit",
}

// report rewrites the generated sections of README.md and
// docs/performance.md between their markers.
func (r *Results) report(c config) error {
	if err := splice(filepath.Join(c.repo, "README.md"), "hero", r.hero(c)); err != nil {
		return err
	}
	return splice(filepath.Join(c.repo, "docs", "performance.md"), "results", r.tables(c))
}

// splice replaces what lies between <!-- bench:NAME --> and
// <!-- /bench:NAME --> in path.
func splice(path, name, body string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	begin, end := "<!-- bench:"+name+" -->", "<!-- /bench:"+name+" -->"
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: markers %s … %s not found", path, begin, end)
	}
	s = s[:i+len(begin)] + "\n" + strings.TrimSpace(body) + "\n" + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

func ratio(x float64) string { return fmt.Sprintf("%.2f×", x) }

func (r *Results) hero(c config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "![Requests per second on one 2-core machine: a bare Go forwarder, rtgate, and the guide-style Express app](%s/throughput.svg)\n\n", c.out)
	get, _ := r.find("get_mint", "rtgate")
	flood, _ := r.find("flood_429", "rtgate")
	ex, hasEx := r.find("get_mint", "express")
	fmt.Fprintf(&b, "Measured on one %d-core machine with `scripts/bench.sh`: rtgate mints at **%s** the rate of a bare Go forwarder that checks nothing",
		r.Meta.Cores, ratio(get.RPSRatio))
	if hasEx && ex.RPS > 0 {
		fmt.Fprintf(&b, " (%.1f× the rate of the guide-style Express app)", get.RPS/ex.RPS)
	}
	fmt.Fprintf(&b, " and answers a flood with 429s at **%s** the forwarder's rate; method, tables and how the cost grows in [docs/performance.md](docs/performance.md).\n", ratio(flood.RPSRatio))
	if l := r.Meta.LoadBefore[0]; l > 1 {
		fmt.Fprintf(&b, "(These figures come from a run on a busy machine, load average %.1f at its start; rerun `scripts/bench.sh` on a quiet one before quoting them.)\n", l)
	}
	return b.String()
}

func (r *Results) tables(c config) string {
	var b strings.Builder
	m := r.Meta
	fmt.Fprintf(&b, "Run of %s to %s (UTC): %s, %d cores, %s; load average %.2f before, %.2f after. wrk -t2 -c%d, %s per run after a %s warm-up, %d alternating rounds, medians. %s",
		m.Started, m.Finished, m.CPU, m.Cores, m.GoVersion, m.LoadBefore[0], m.LoadAfter[0], m.Connections, m.Duration, m.Warmup, m.Rounds, m.Wrk)
	if m.Node != "" {
		fmt.Fprintf(&b, "; Node %s with express %s, helmet %s, cors %s, express-rate-limit %s",
			m.Node, m.Express["express"], m.Express["helmet"], m.Express["cors"], m.Express["express-rate-limit"])
	}
	b.WriteString(".\n\n")
	if m.LoadBefore[0] > 1 {
		fmt.Fprintf(&b, "> The machine was not quiet during this run (load %.2f before it): other processes took CPU from every target alike, so the ratios hold better than the absolute figures.\n\n", m.LoadBefore[0])
	}

	img, err := filepath.Rel("docs", c.out) // the charts, seen from docs/performance.md
	if err != nil {
		img = c.out
	}
	img = filepath.ToSlash(img)
	fmt.Fprintf(&b, "![requests per second](%s/throughput.svg)\n\n", img)
	b.WriteString("| target | GET mint req/s | POST mint req/s | 429s/s under a flood | p99 ms GET / POST / 429 | CPU µs per request GET / POST / 429 | allocations per request GET / POST / 429 |\n|---|---|---|---|---|---|---|\n")
	targets := []string{"floor", "rtgate", "express"}
	names := []string{"get_mint", "post_mint", "flood_429"}
	for _, t := range targets {
		var cells [6][]string
		found := false
		for _, n := range names {
			s, ok := r.find(n, t)
			if !ok {
				for i := range cells {
					cells[i] = append(cells[i], "—")
				}
				continue
			}
			found = true
			rps := fmtInt(s.RPS)
			if t != "floor" {
				rps += fmt.Sprintf(" (**%s**)", ratio(s.RPSRatio))
			}
			cells[0] = append(cells[0], rps)
			cells[1] = append(cells[1], fmt.Sprintf("%.1f", s.P99ms))
			cpu := fmt.Sprintf("%.0f", s.CPUPerReqUS)
			if t != "floor" {
				cpu += fmt.Sprintf(" (%s)", ratio(s.CPURatio))
			}
			cells[2] = append(cells[2], cpu)
			if s.AllocsPerReq != nil {
				cells[3] = append(cells[3], fmt.Sprintf("%.0f", *s.AllocsPerReq))
			} else {
				cells[3] = append(cells[3], "—")
			}
			if s.Problems > 0 {
				cells[4] = append(cells[4], fmt.Sprintf("%s: %d suspect runs", n, s.Problems))
			}
		}
		if !found {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", targetLabels[t], cells[0][0], cells[0][1], cells[0][2],
			strings.Join(cells[1], " / "), strings.Join(cells[2], " / "), strings.Join(cells[3], " / "))
	}
	b.WriteString("\nRatios are to the floor in the same scenario; the floor's 429 is unconditional (no limiter, fixed headers and body). Runs with problems (errors, unexpected statuses) are listed in `results.json`")
	problems := 0
	for _, sc := range r.Scenarios {
		for _, s := range sc.Summary {
			problems += s.Problems
		}
	}
	fmt.Fprintf(&b, "; this run had %d.\n\n", problems)

	if len(r.Sweep) > 0 {
		b.WriteString("### Mint latency as concurrency grows (GET mint)\n\n![latency and throughput by connections](" + img + "/concurrency.svg)\n\n")
		b.WriteString("| connections | floor req/s | rtgate req/s | floor p50 / p99 ms | rtgate p50 / p99 ms | rtgate p99 added ms |\n|---|---|---|---|---|---|\n")
		for _, n := range m.SweepConns {
			var f, g Summary
			for _, p := range r.Sweep {
				if p.Conns == n && p.Target == "floor" {
					f = p.Summary
				}
				if p.Conns == n && p.Target == "rtgate" {
					g = p.Summary
				}
			}
			fmt.Fprintf(&b, "| %d | %s | %s (%s) | %.2f / %.2f | %.2f / %.2f | %+.2f |\n", n, fmtInt(f.RPS), fmtInt(g.RPS), ratio(g.RPSRatio), f.P50ms, f.P99ms, g.P50ms, g.P99ms, g.P99AddedMS)
		}
		fmt.Fprintf(&b, "\n%s per point, %d rounds, medians.\n\n", m.SweepDuration, m.SweepRounds)
	}
	if len(r.Scale) > 0 {
		b.WriteString("### Rate-limit decisions as tracked clients grow\n\n![rate limiter cost by tracked clients](" + img + "/scale.svg)\n\n")
		b.WriteString("| tracked clients | ns per decision | heap bytes per client | allocations per decision |\n|---|---|---|---|\n")
		for _, p := range r.Scale {
			fmt.Fprintf(&b, "| %s | %.0f | %.1f | %.0f |\n", fmtInt(float64(p.Clients)), p.NsPerDecision, p.BytesPerClient, p.AllocsPerOp)
		}
		b.WriteString("\n`BenchmarkLimiterScale` in `internal/ratelimit` (memory store, admitted decisions for clients visited in a scattered order; the median of its runs).\n")
	}
	return b.String()
}
