// Package alerts_test checks rtgate's Prometheus alert rules: promtool
// accepts them, their unit tests pass, and every metric they query is one
// rtgate actually exports.
package alerts_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install the Debian package prometheus (scripts/test.sh does)")
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestRulesAreValid(t *testing.T) { promtool(t, "check", "rules", "rtgate.rules.yml") }

func TestRulesUnitTests(t *testing.T) { promtool(t, "test", "rules", "rtgate.rules.test.yml") }

var metricName = regexp.MustCompile(`\brtgate_[a-z0-9_]+`)

func TestRulesQueryOnlyExportedMetrics(t *testing.T) {
	rules, err := os.ReadFile("rtgate.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	// Every rtgate_* name written in the Go source outside tests.
	exported := map[string]bool{}
	for _, dir := range []string{"../../internal", "../../cmd"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range regexp.MustCompile(`"(rtgate_[a-z0-9_]+)"`).FindAllSubmatch(src, -1) {
				exported[string(m[1])] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	queried := map[string]bool{}
	for _, line := range strings.Split(string(rules), "\n") {
		if strings.Contains(line, "runbook:") || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range metricName.FindAllString(line, -1) {
			queried[m] = true
		}
	}
	if len(queried) < 5 {
		t.Fatalf("found only %v in the rules", queried)
	}
	for m := range queried {
		if !exported[m] {
			t.Errorf("the rules query %s, which rtgate does not export", m)
		}
	}
}
