package httpx

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRefusedOriginIsLoggedWithAHint: a refused Origin is logged with the
// origin, the allowed list and a hint naming ALLOWED_ORIGINS; a flood is
// sampled (a burst, then one line per interval, the rest counted), so it
// cannot fill the log.
func TestRefusedOriginIsLoggedWithAHint(t *testing.T) {
	var logs bytes.Buffer
	c := NewCORS([]string{"http://localhost:3000"}, slog.New(slog.NewJSONHandler(&logs, nil)))
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	c.hint.now = func() time.Time { return now }
	h := RequestIDs(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	send := func(origin string) int {
		req := httptest.NewRequest("POST", "/api/realtime-session", nil)
		req.Header.Set("Origin", origin)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	hints := func() []map[string]any {
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && strings.HasPrefix(m["msg"].(string), "origin refused") {
				out = append(out, m)
			}
		}
		return out
	}

	if code := send("http://localhost:3001"); code != 403 {
		t.Fatalf("status %d", code)
	}
	got := hints()
	if len(got) != 1 || got[0]["origin"] != "http://localhost:3001" || got[0]["allowed_origins"] != "http://localhost:3000" ||
		!strings.Contains(got[0]["hint"].(string), "ALLOWED_ORIGINS") || got[0]["level"] != "WARN" {
		t.Fatalf("hint lines: %v", got)
	}

	for range 1000 {
		send("https://evil.example/" + strings.Repeat("x", 500))
	}
	got = hints()
	if len(got) != originHintBurst {
		t.Fatalf("a flood of 1000 logged %d hint lines, want the burst of %d", len(got), originHintBurst)
	}
	if o := got[1]["origin"].(string); len(o) > maxLoggedOrigin+len("…") {
		t.Errorf("a long origin is logged whole (%d bytes)", len(o))
	}
	now = now.Add(originHintEvery)
	send("http://localhost:3002")
	got = hints()
	if len(got) != originHintBurst+1 || got[len(got)-1]["similar_lines_suppressed"] != float64(1000-(originHintBurst-1)) {
		t.Fatalf("after the interval: %v", got[len(got)-1])
	}
	if send("http://localhost:3000") != 200 || len(hints()) != originHintBurst+1 {
		t.Error("an allowed origin was refused or logged")
	}
}
