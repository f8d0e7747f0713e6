package simulator

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFaultsAnswerInOpenAIShape(t *testing.T) {
	tests := []struct {
		name       string
		fault      Fault
		status     int
		typ, code  string
		retryAfter string // "" = header absent
	}{
		{name: "server error is 500 server_error", fault: Fault{Kind: FaultServerError},
			status: 500, typ: "server_error"},
		{name: "unauthorized is 401 invalid_api_key even for a good key", fault: Fault{Kind: FaultUnauthorized},
			status: 401, typ: "invalid_request_error", code: "invalid_api_key"},
		{name: "rate limited carries Retry-After of at least 1", fault: Fault{Kind: FaultRateLimited},
			status: 429, typ: "requests", code: "rate_limit_exceeded", retryAfter: "1"},
		{name: "rate limited rounds Retry-After up", fault: Fault{Kind: FaultRateLimited, RetryAfter: 1500 * time.Millisecond},
			status: 429, typ: "requests", code: "rate_limit_exceeded", retryAfter: "2"},
		{name: "overloaded is 503 without Retry-After by default", fault: Fault{Kind: FaultOverloaded},
			status: 503, typ: "service_unavailable_error", code: "server_is_overloaded"},
		{name: "overloaded with Retry-After", fault: Fault{Kind: FaultOverloaded, RetryAfter: 3 * time.Second},
			status: 503, typ: "service_unavailable_error", code: "server_is_overloaded", retryAfter: "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.sim.SetFault(tt.fault)
			res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, "{}")
			got := wantError(t, res, tt.status, tt.typ, tt.code, "")
			if ra := res.header.Get("Retry-After"); ra != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", ra, tt.retryAfter)
			}
			if tt.fault.Kind == FaultServerError && !strings.Contains(got["message"].(string), "The server had an error while processing your request") {
				t.Errorf("message = %q", got["message"])
			}
			if len(e.sim.Minted()) != 0 {
				t.Error("a faulted request minted a secret")
			}
			if e.sim.Requests() != 1 {
				t.Errorf("Requests() = %d", e.sim.Requests())
			}
		})
	}
}

func TestFaultCountRevertsToNormalAfterNRequests(t *testing.T) {
	e := newEnv(t)
	e.sim.SetFault(Fault{Kind: FaultServerError, Count: 2})
	for i := range 2 {
		if res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, "{}"); res.status != 500 {
			t.Fatalf("request %d: status %d, want 500", i, res.status)
		}
	}
	if res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, "{}"); res.status != 200 {
		t.Fatalf("third request: status %d, want 200", res.status)
	}
	if f := e.sim.CurrentFault(); f.Kind != FaultNone {
		t.Errorf("CurrentFault() = %+v after the count ran out", f)
	}
}

func TestFaultWithoutCountPersistsUntilCleared(t *testing.T) {
	e := newEnv(t)
	e.sim.SetFault(Fault{Kind: FaultOverloaded})
	for i := range 3 {
		if res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, "{}"); res.status != 503 {
			t.Fatalf("request %d: status %d, want 503", i, res.status)
		}
	}
	e.sim.SetFault(Fault{})
	if res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, "{}"); res.status != 200 {
		t.Fatalf("after clearing: status %d", res.status)
	}
}

func TestFaultDropClosesConnectionWithoutResponse(t *testing.T) {
	e := newEnv(t)
	e.sim.SetFault(Fault{Kind: FaultDrop, Count: 1})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/realtime/client_secrets", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err == nil {
		res.Body.Close()
		t.Fatalf("got a response (status %d), want a connection error", res.StatusCode)
	}
	if e.sim.Requests() != 1 {
		t.Errorf("Requests() = %d, want the dropped request counted", e.sim.Requests())
	}
	if len(e.sim.Minted()) != 0 {
		t.Error("a dropped request minted a secret")
	}
	if res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, "{}"); res.status != 200 {
		t.Errorf("next request: status %d", res.status)
	}
}

func TestFaultSlowAnswersNormallyAfterDelay(t *testing.T) {
	e := newEnv(t)
	waited := make(chan bool, 1)
	e.sim.afterSlow = func(cancelled bool) { waited <- cancelled }
	e.sim.SetFault(Fault{Kind: FaultSlow, Delay: 10 * time.Millisecond, Count: 1})
	res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, "{}")
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	if cancelled := <-waited; cancelled {
		t.Error("slow wait reported cancelled")
	}
	if len(e.sim.Minted()) != 1 {
		t.Error("slow request did not mint")
	}
}

func TestFaultSlowHonoursClientCancel(t *testing.T) {
	e := newEnv(t)
	waited := make(chan bool, 1)
	e.sim.afterSlow = func(cancelled bool) { waited <- cancelled }
	e.sim.SetFault(Fault{Kind: FaultSlow, Delay: time.Hour})

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/v1/realtime/client_secrets", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	for e.sim.Requests() == 0 { // wait until the request is inside the slow fault
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error = %v, want context.Canceled", err)
	}
	if cancelled := <-waited; !cancelled {
		t.Error("server-side wait did not end on cancel")
	}
	if len(e.sim.Minted()) != 0 {
		t.Error("a cancelled slow request minted a secret")
	}
}

func TestFaultsApplyToEveryEndpoint(t *testing.T) {
	e := newEnv(t)
	e.sim.SetFault(Fault{Kind: FaultServerError})
	for _, p := range []string{"/v1/realtime/client_secrets", "/v1/realtime/calls", "/v1/realtime/sessions", "/v1/nope"} {
		res := e.do(t, http.MethodPost, p, nil, "{}")
		wantError(t, res, 500, "server_error", "", "")
	}
}
