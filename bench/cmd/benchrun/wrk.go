package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run reports.
type wrkResult struct {
	Requests     int64   `json:"requests"`
	Seconds      float64 `json:"seconds"`
	RPS          float64 `json:"rps"`
	P50ms        float64 `json:"p50_ms"`
	P90ms        float64 `json:"p90_ms"`
	P99ms        float64 `json:"p99_ms"`
	Non2xx       int64   `json:"non_2xx"`
	SocketErrors int64   `json:"socket_errors"`
}

type wrkRun struct {
	url      string
	conns    int
	duration time.Duration
	script   string // Lua script path, or ""
	headers  []string
}

func (w wrkRun) args() []string {
	threads := min(2, w.conns)
	a := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(w.conns), "-d" + w.duration.String(), "--latency", "--timeout", "5s"}
	for _, h := range w.headers {
		a = append(a, "-H", h)
	}
	if w.script != "" {
		a = append(a, "-s", w.script)
	}
	return append(a, w.url)
}

func (w wrkRun) run(ctx context.Context, bin string) (wrkResult, string, error) {
	cmd := exec.CommandContext(ctx, bin, w.args()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, string(out), fmt.Errorf("wrk %s: %w\n%s", strings.Join(w.args(), " "), err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return r, string(out), fmt.Errorf("wrk %s: %w\n%s", strings.Join(w.args(), " "), err, out)
	}
	return r, string(out), nil
}

var (
	reTotal   = regexp.MustCompile(`(\d+) requests in ([\d.]+)(us|ms|s|m),`)
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	rePct     = regexp.MustCompile(`^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	reSockErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func toMS(v float64, unit string) float64 {
	switch unit {
	case "us":
		return v / 1000
	case "s":
		return v * 1000
	case "m":
		return v * 60000
	}
	return v
}

// parseWrk reads wrk's text report (run with --latency).
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := reTotal.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no request total in wrk output")
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	secs, _ := strconv.ParseFloat(m[2], 64)
	r.Seconds = toMS(secs, m[3]) / 1000
	if m := reRPS.FindStringSubmatch(out); m != nil {
		r.RPS, _ = strconv.ParseFloat(m[1], 64)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	found := 0
	for sc.Scan() {
		m := rePct.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[1] {
		case "50":
			r.P50ms = toMS(v, m[3])
		case "90":
			r.P90ms = toMS(v, m[3])
		case "99":
			r.P99ms = toMS(v, m[3])
		}
		found++
	}
	if found < 4 && r.Requests > 0 {
		return r, fmt.Errorf("no latency distribution in wrk output")
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reSockErr.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.SocketErrors += n
		}
	}
	return r, nil
}
