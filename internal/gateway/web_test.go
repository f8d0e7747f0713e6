package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rtgate/rtgate/web"
)

func TestServesSeesRoutesRegisteredBefore(t *testing.T) {
	nop := func(http.ResponseWriter, *http.Request) {}
	tests := []struct {
		name     string
		patterns []string
		want     bool
	}{
		{"registered", []string{"POST /api/live-session"}, true},
		{"not registered", []string{"POST /api/realtime-call"}, false},
		{"only a catch-all", []string{"/"}, false},
		{"another method only", []string{"GET /api/live-session"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			for _, p := range tt.patterns {
				mux.HandleFunc(p, nop)
			}
			if got := serves(mux, http.MethodPost, "/api/live-session"); got != tt.want {
				t.Errorf("serves = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDemoPageOffersLiveModeOnlyWhenServed(t *testing.T) {
	for _, live := range []bool{false, true} {
		page, err := renderPage(web.FS(), web.Page{RealtimeURL: "https://api.openai.com/v1", Model: "m", Live: live})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(page), `value="live"`); got != live {
			t.Errorf("Live=%v: live mode offered = %v", live, got)
		}
		for _, mode := range []string{`value="token"`, `value="call"`} {
			if !strings.Contains(string(page), mode) {
				t.Errorf("Live=%v: page lacks %s", live, mode)
			}
		}
	}
}
