package app_test

import (
	"os"
	"strings"
	"testing"

	"github.com/rtgate/rtgate/internal/apptest"
)

const (
	metricsBegin = "<!-- metrics: generated from the registry; RTGATE_UPDATE_README=1 go test ./internal/app -run TestREADMEListsEveryMetric -->\n"
	metricsEnd   = "<!-- /metrics -->\n"
)

// TestREADMEListsEveryMetric: the README's metric table is exactly what
// rtgate registers (every metric, nothing else), with an instance that
// turns every part on (authentication, per-user controls, the operator
// API). RTGATE_UPDATE_README=1 rewrites the table from the registry.
func TestREADMEListsEveryMetric(t *testing.T) {
	in := apptest.Start(t, map[string]string{
		"AUTH_MODE": "jwt", "AUTH_JWT_SECRET": strings.Repeat("k", 32), "ADMIN_TOKEN": strings.Repeat("a", 32),
	})
	var b strings.Builder
	b.WriteString(metricsBegin)
	b.WriteString("| metric | labels | meaning |\n|---|---|---|\n")
	described := in.App.DescribedMetrics()
	if len(described) < 20 {
		t.Fatalf("only %d metrics described: is the registry still recording?", len(described))
	}
	for _, d := range described {
		labels := "—"
		if len(d.Labels) > 0 {
			labels = "`" + strings.Join(d.Labels, "`, `") + "`"
		}
		b.WriteString("| `" + d.Name + "` | " + labels + " | " + strings.ReplaceAll(d.Help, "|", `\|`) + " |\n")
	}
	b.WriteString(metricsEnd)
	want := b.String()

	const path = "../../README.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, metricsBegin), strings.Index(readme, metricsEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no generated metrics table (%q … %q)", metricsBegin, metricsEnd)
	}
	got := readme[i : j+len(metricsEnd)]
	if got == want {
		return
	}
	if os.Getenv("RTGATE_UPDATE_README") == "1" {
		if err := os.WriteFile(path, []byte(readme[:i]+want+readme[j+len(metricsEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("README.md metrics table rewritten")
		return
	}
	t.Errorf("README.md's metrics table is not what rtgate registers; rerun with RTGATE_UPDATE_README=1.\nwant:\n%s\ngot:\n%s", want, got)
}
