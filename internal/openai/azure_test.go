package openai_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/simulator"
)

// TestAzure runs the client against the simulator in Azure mode
// (/openai/v1, api-key, deployment names): a mint sends the key in
// api-key and never as a Bearer; a call is set up by minting a secret with
// the session and posting the offer with that secret (Azure's /calls
// refuses a standard key), and hung up with the key.
func TestAzure(t *testing.T) {
	const key = "azure-key-0123456789abcdef"
	sim := simulator.New(simulator.Options{APIKeys: []string{key}, Azure: true, Deployments: []string{"my-realtime"}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c := openai.New(openai.Options{BaseURL: srv.URL + "/openai/v1", APIKey: key, Timeout: 2 * time.Second, Azure: true})
	p := openai.MintParams{Model: "my-realtime", Voice: "marin", TTL: time.Minute, SafetyIdentifier: "0123abcd"}

	m, err := c.MintClientSecret(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	up := sim.LastRequest()
	if !strings.HasPrefix(m.Value, "ek_") || up.Header.Get("api-key") != key || up.Header.Get("Authorization") != "" {
		t.Fatalf("mint %+v; upstream headers %v", m, up.Header)
	}

	minted := len(sim.Minted())
	call, err := c.CreateCall(context.Background(), offer, p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(sim.Calls(), call.ID) || !strings.HasPrefix(call.Answer, "v=0") {
		t.Fatalf("call %+v not live upstream", call)
	}
	secrets := sim.Minted()
	if len(secrets) != minted+1 {
		t.Fatalf("the call minted %d secrets, want 1", len(secrets)-minted)
	}
	up = sim.LastRequest()
	if up.Header.Get("Authorization") != "Bearer "+secrets[len(secrets)-1] || up.Header.Get("api-key") != "" ||
		up.Header.Get("Content-Type") != "application/sdp" || up.Header.Get("OpenAI-Safety-Identifier") != "0123abcd" {
		t.Errorf("the offer was not posted with the fresh secret: %v", up.Header)
	}
	if info, ok := sim.Secret(secrets[len(secrets)-1]); !ok || !strings.Contains(string(info.Session), `"model":"my-realtime"`) {
		t.Errorf("the secret does not carry the session: %+v", info)
	}
	if err := c.Hangup(context.Background(), call.ID); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(sim.Calls(), call.ID) || sim.LastRequest().Header.Get("api-key") != key {
		t.Error("the hang-up did not end the call with the key")
	}

	// A deployment Azure does not have fails at the mint, before any offer
	// is posted; a 404 there is not a key problem.
	p.Model = "no-such-deployment"
	hits := sim.Hits("/openai/v1/realtime/calls")
	var se *openai.StatusError
	if _, err := c.CreateCall(context.Background(), offer, p); !errors.As(err, &se) || se.Status != 404 {
		t.Fatalf("unknown deployment: %v", err)
	}
	if sim.Hits("/openai/v1/realtime/calls") != hits {
		t.Error("an offer was posted although the mint failed")
	}
	if st := c.Keys().Status(); st.Slots[0].Rejected {
		t.Error("the key was marked rejected")
	}
}
