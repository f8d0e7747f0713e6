package web

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// typescriptPackage is the TypeScript compiler the declarations are checked
// with; npx installs it into npm's cache on first use.
const typescriptPackage = "typescript@5.9.3"

// TestDeclarationsTypeCheck compiles typecheck/example.ts (every option and
// member in use, misuse marked @ts-expect-error) against rtgate-client.d.ts
// with a strict, pinned tsc. Node.js and npx are part of the machine; their
// absence is a failure.
func TestDeclarationsTypeCheck(t *testing.T) {
	npx := lookTool(t, "npx")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npx, "--yes", "--prefer-offline", "--package="+typescriptPackage, "--", "tsc", "-p", filepath.Join("typecheck", "tsconfig.json"))
	cmd.Env = append(os.Environ(), "NO_UPDATE_NOTIFIER=1", "npm_config_fund=false", "npm_config_audit=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc (%s) on typecheck/example.ts: %v\n%s", typescriptPackage, err, out)
	}
}

// TestDeclaredMembersExistAtRuntime imports the module in Node.js and
// compares its exports and an RtgateError's fields with the lists in
// typecheck/example.ts, which tsc holds equal to the declarations. (The
// Connection's members are compared in the Chromium tests.)
func TestDeclaredMembersExistAtRuntime(t *testing.T) {
	node := lookTool(t, "node")
	abs, err := filepath.Abs("rtgate-client.js")
	if err != nil {
		t.Fatal(err)
	}
	script := `const m = await import(process.argv[1]);
const e = new m.RtgateError("x", {});
const fields = Object.keys(e).filter((k) => !["name", "message", "stack", "cause"].includes(k));
console.log(JSON.stringify({ exports: Object.keys(m), errorFields: fields, name: e.name, isError: e instanceof Error }));`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--input-type=module", "-e", script, "file://"+abs).Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got struct {
		Exports     []string `json:"exports"`
		ErrorFields []string `json:"errorFields"`
		Name        string   `json:"name"`
		IsError     bool     `json:"isError"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	declared := declaredMembers(t, "typecheck/example.ts")
	for _, c := range []struct {
		list    string
		runtime []string
	}{{"moduleExports", got.Exports}, {"errorFields", got.ErrorFields}} {
		want := declared[c.list]
		if len(want) == 0 {
			t.Fatalf("typecheck/example.ts has no %s list", c.list)
		}
		slices.Sort(c.runtime)
		if !slices.Equal(c.runtime, want) {
			t.Errorf("%s: module has %v, declarations %v", c.list, c.runtime, want)
		}
	}
	if got.Name != "RtgateError" || !got.IsError {
		t.Errorf("RtgateError: name %q, instanceof Error %v", got.Name, got.IsError)
	}
}

var (
	memberList = regexp.MustCompile(`export const (\w+) = \{([^}]*)\} satisfies`)
	memberName = regexp.MustCompile(`(\w+): true`)
)

// declaredMembers returns the member lists of typecheck/example.ts (at path),
// each sorted, by name. The Chromium tests have a copy of this reader.
func declaredMembers(t testing.TB, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lists := make(map[string][]string)
	for _, m := range memberList.FindAllStringSubmatch(string(b), -1) {
		var names []string
		for _, n := range memberName.FindAllStringSubmatch(m[2], -1) {
			names = append(names, n[1])
		}
		slices.Sort(names)
		lists[m[1]] = names
	}
	return lists
}

func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required to check the TypeScript declarations (Node.js and npm are part of the machine; Debian: apt-get install nodejs npm): %v", name, err)
	}
	return strings.TrimSpace(p)
}
