package usage_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"testing"

	"github.com/rtgate/rtgate/internal/usage"
)

func TestFieldsNamesAndJSONAgree(t *testing.T) {
	var u usage.Usage
	for i, n := range usage.Names {
		if !u.Set(n, int64(i+1)) {
			t.Fatalf("Set(%q) refused a name of Names", n)
		}
	}
	if u.Set("nope", 1) {
		t.Fatal("Set accepted an unknown name")
	}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]int64
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, f := range u.Fields() {
		names = append(names, f.Name)
		if f.Value != int64(i+1) || m[f.Name] != f.Value {
			t.Errorf("field %s: value %d, JSON %d, want %d", f.Name, f.Value, m[f.Name], i+1)
		}
	}
	if !slices.Equal(names, usage.Names) || len(m) != len(usage.Names) {
		t.Errorf("Fields names %v, JSON members %v, Names %v", names, m, usage.Names)
	}
}

func TestAddFromStringsIsZeroTokens(t *testing.T) {
	a := usage.Usage{InputAudioTokens: 10, CachedAudioTokens: 4, OutputAudioTokens: 20, Responses: 1}
	b := usage.Usage{InputTextTokens: 3, OutputTextTokens: 2, Responses: 1, LiveMillis: 1500, CallMillis: 90_000}
	sum := a.Add(b)
	want := usage.Usage{InputTextTokens: 3, InputAudioTokens: 10, CachedAudioTokens: 4, OutputTextTokens: 2, OutputAudioTokens: 20, Responses: 2, LiveMillis: 1500, CallMillis: 90_000}
	if sum != want {
		t.Fatalf("Add: %+v, want %+v", sum, want)
	}
	if a.InputTextTokens != 0 {
		t.Fatal("Add changed its receiver")
	}
	m := map[string]string{"bogus": "7", "live_ms": "x"}
	for _, f := range sum.Fields() {
		if _, ok := m[f.Name]; !ok {
			m[f.Name] = strconv.FormatInt(f.Value, 10)
		}
	}
	m["live_ms"] = "1500"
	if got := usage.FromStrings(m); got != sum {
		t.Fatalf("FromStrings: %+v, want %+v", got, sum)
	}
	if !(usage.Usage{}).IsZero() || sum.IsZero() {
		t.Fatal("IsZero")
	}
	if in, out := sum.Tokens(); in != 13 || out != 22 {
		t.Fatalf("Tokens: %d in, %d out", in, out)
	}
}
