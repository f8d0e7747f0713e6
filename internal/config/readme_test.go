package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestEveryVariableIsDocumented: each variable the configuration reads has
// a row in the README's configuration tables.
func TestEveryVariableIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	read := regexp.MustCompile(`(?:getenv|p\.[a-zA-Z]+)\("([A-Z][A-Z0-9_]+)"`)
	seen := map[string]bool{}
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		src, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range read.FindAllStringSubmatch(string(src), -1) {
			seen[m[1]] = true
		}
	}
	if len(seen) < 40 {
		t.Fatalf("found only %d variables; is the pattern still right?", len(seen))
	}
	for name := range seen {
		if !strings.Contains(string(readme), "| `"+name+"`") && !strings.Contains(string(readme), "/ `"+name+"`") {
			t.Errorf("%s has no row in the README configuration table", name)
		}
	}
}
