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
	"time"
)

// Micro is docs/bench/micro.json: Go benchmarks of the same code paths
// before and after, from scripts/bench-micro.sh.
type Micro struct {
	Date       string     `json:"date"`
	Base       string     `json:"base"`
	Head       string     `json:"head"`
	LoadBefore [3]float64 `json:"load_before"`
	Command    string     `json:"command"`
	Rows       []MicroRow `json:"benchmarks"`
}

// MicroRow is one benchmark's medians before and after.
type MicroRow struct {
	Name string     `json:"name"`
	Base *MicroStat `json:"base,omitempty"`
	Head *MicroStat `json:"head,omitempty"`
}

// MicroStat is the median of a benchmark's runs.
type MicroStat struct {
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	Runs        int     `json:"runs"`
}

var reBench = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op)?(?:\s+(\d+) allocs/op)?`)

func parseBenchFile(path string) (map[string]*MicroStat, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	type acc struct{ ns, b, a []float64 }
	by := map[string]*acc{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := reBench.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		x := by[m[1]]
		if x == nil {
			x = &acc{}
			by[m[1]] = x
			order = append(order, m[1])
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		b, _ := strconv.ParseFloat(m[3], 64)
		a, _ := strconv.ParseFloat(m[4], 64)
		x.ns, x.b, x.a = append(x.ns, ns), append(x.b, b), append(x.a, a)
	}
	out := map[string]*MicroStat{}
	for name, x := range by {
		out[name] = &MicroStat{NsPerOp: median(x.ns), BytesPerOp: median(x.b), AllocsPerOp: median(x.a), Runs: len(x.ns)}
	}
	return out, order, sc.Err()
}

// microReport reads the base and head benchmark outputs, writes
// micro.json and rewrites the micro section of docs/performance.md.
func microReport(c config, basePath, headPath, baseRev, headRev, command string) error {
	base, order, err := parseBenchFile(basePath)
	if err != nil {
		return err
	}
	head, order2, err := parseBenchFile(headPath)
	if err != nil {
		return err
	}
	for _, n := range order2 {
		if !slices.Contains(order, n) {
			order = append(order, n)
		}
	}
	m := Micro{Date: time.Now().UTC().Format(time.RFC3339), Base: baseRev, Head: headRev, LoadBefore: loadAvg(), Command: command}
	for _, n := range order {
		m.Rows = append(m.Rows, MicroRow{Name: n, Base: base[n], Head: head[n]})
	}
	dir := filepath.Join(c.repo, c.out)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "micro.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return splice(filepath.Join(c.repo, "docs", "performance.md"), "micro", m.table())
}

func (m Micro) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Before = %s, after = %s; %s (load average %.2f when it started); medians of the runs, base and head alternating.\n\n", m.Base, m.Head, m.Date, m.LoadBefore[0])
	b.WriteString("| benchmark | ns/op before → after | B/op before → after | allocs/op before → after |\n|---|---|---|---|\n")
	cell := func(s *MicroStat, f func(*MicroStat) float64, prec int) string {
		if s == nil {
			return "—"
		}
		return strconv.FormatFloat(f(s), 'f', prec, 64)
	}
	for _, r := range m.Rows {
		ns := func(s *MicroStat) float64 { return s.NsPerOp }
		by := func(s *MicroStat) float64 { return s.BytesPerOp }
		al := func(s *MicroStat) float64 { return s.AllocsPerOp }
		prec := 0
		if (r.Head != nil && r.Head.NsPerOp < 100) || (r.Base != nil && r.Base.NsPerOp < 100) {
			prec = 1
		}
		fmt.Fprintf(&b, "| `%s` | %s → **%s** | %s → %s | %s → **%s** |\n", strings.TrimPrefix(r.Name, "Benchmark"),
			cell(r.Base, ns, prec), cell(r.Head, ns, prec), cell(r.Base, by, 0), cell(r.Head, by, 0), cell(r.Base, al, 0), cell(r.Head, al, 0))
	}
	fmt.Fprintf(&b, "\n`%s`\n", m.Command)
	return b.String()
}
