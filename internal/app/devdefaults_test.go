package app_test

import (
	"strings"
	"testing"

	"github.com/rtgate/rtgate/internal/apptest"
)

// TestDevelopmentDefaultsFollowThePort is the Next.js newcomer's first
// minute: rtgate on another port than 3000 (PORT=0 here picks one) with no
// ALLOWED_ORIGINS. The demo page's own origin is allowed, the log says
// where to open it, and a page on another origin is refused with a log
// line naming the origin and ALLOWED_ORIGINS.
func TestDevelopmentDefaultsFollowThePort(t *testing.T) {
	in := apptest.Start(t, map[string]string{"ALLOWED_ORIGINS": "-"})
	port := in.URL[strings.LastIndex(in.URL, ":")+1:]
	for _, origin := range []string{"http://localhost:" + port, "http://127.0.0.1:" + port, "http://[::1]:" + port} {
		if r := in.Do(t, "POST", "/api/realtime-session", "", "Origin: "+origin); r.StatusCode != 200 {
			t.Errorf("the demo page's origin %s: %d %s", origin, r.StatusCode, r.Body)
		}
	}
	if !strings.Contains(in.Logs.String(), `"url":"http://localhost:`+port+`/"`) {
		t.Errorf("the log does not say where to open the demo page:\n%s", in.Logs.String())
	}
	before := in.Sim.Requests()
	r := in.Do(t, "POST", "/api/realtime-session", "", "Origin: http://localhost:3000")
	if r.StatusCode != 403 || in.Sim.Requests() != before {
		t.Fatalf("a page on port 3000: %d, upstream calls %d -> %d", r.StatusCode, before, in.Sim.Requests())
	}
	logs := in.Logs.String()
	if !strings.Contains(logs, `"origin":"http://localhost:3000"`) || !strings.Contains(logs, "ALLOWED_ORIGINS") {
		t.Errorf("the refusal is not explained in the log:\n%s", logs)
	}
}
