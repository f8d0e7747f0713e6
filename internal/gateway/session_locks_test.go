package gateway

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/rtgate/rtgate/internal/calls"
	"github.com/rtgate/rtgate/internal/sessioncfg"
)

func decodeSession(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestServerSessionsHoldTheRenderedSession: with the session file's
// renderer, a Realtime call is held by sessioncfg's locks (its documented
// defaults locked, a dated snapshot of the model accepted, the model never
// "put back"); a Live session by the policy's own locks over the rendered
// MediaSessionConfig.
func TestServerSessionsHoldTheRenderedSession(t *testing.T) {
	env := sessioncfg.Env{
		Realtime: sessioncfg.Base{Model: sessioncfg.Setting{Var: "REALTIME_MODEL", Value: "gpt-realtime-2.1"}, Voice: sessioncfg.Setting{Var: "REALTIME_VOICE", Value: "marin"},
			Instructions: sessioncfg.Setting{Var: "REALTIME_INSTRUCTIONS", Value: "Server rules."}},
		Live: sessioncfg.Base{Model: sessioncfg.Setting{Var: "LIVE_MODEL", Value: "gpt-live-1"}},
	}
	cfg, err := sessioncfg.Parse("", nil, env)
	if err != nil {
		t.Fatal(err)
	}
	renderer, err := sessioncfg.New(cfg, sessioncfg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ss := ServerSessions{Policy: SessionPolicy{Model: "gpt-realtime-2.1", Voice: "marin", Sessions: renderer}}
	rt, err := ss.Locks(calls.Call{Kind: calls.KindRealtime, Model: "gpt-realtime-2.1"})
	if err != nil {
		t.Fatal(err)
	}
	created := `{"type":"realtime","model":"gpt-realtime-2.1-2026-05-07","instructions":"Server rules.","output_modalities":["audio"],"tools":[],"tool_choice":"auto","max_output_tokens":"inf","prompt":null,"tracing":null,"truncation":"auto","audio":{"input":{"transcription":null},"output":{"voice":"marin"}}}`
	if changed, _ := rt.Check(decodeSession(t, created)); len(changed) != 0 {
		t.Fatalf("the session as created (a dated model snapshot) reads as changed: %v", changed)
	}
	changed, revert := rt.Check(decodeSession(t, strings.Replace(created, `"tools":[]`, `"tools":[{"type":"function","name":"x"}]`, 1)))
	if !slices.Equal(changed, []string{"tools"}) || !strings.Contains(string(revert), `"tools":[]`) || !strings.Contains(string(revert), `"type":"session.update"`) {
		t.Fatalf("a tool added: %v, revert %s", changed, revert)
	}
	if changed, revert := rt.Check(decodeSession(t, strings.Replace(created, `"gpt-realtime-2.1-2026-05-07"`, `"gpt-realtime-2.1-mini"`, 1))); !slices.Contains(changed, "model") || revert != nil {
		t.Fatalf("another model: %v, revert %s (a model cannot be put back)", changed, revert)
	}
	if a := string(rt.Assert()); strings.Contains(a, `"model"`) || !strings.Contains(a, `"instructions":"Server rules."`) || !strings.Contains(a, `"tool_choice":"auto"`) {
		t.Fatalf("assert %s", a)
	}

	live, err := ss.Locks(calls.Call{Kind: calls.KindLive, Model: "gpt-live-1"})
	if err != nil {
		t.Fatal(err)
	}
	started := `{"model":"gpt-live-1","instructions":null,"audio":{"output":{"voice":"marin"}},"delegation":{"type":"client","acknowledgement_delay_ms":0},"client":{"data_channel":{"allowed_client_events":["session.input_audio.mute","session.input_audio.unmute","session.close"],"allowed_server_events":"all"}}}`
	live.Learn(decodeSession(t, started))
	if changed, _ := live.Check(decodeSession(t, started)); len(changed) != 0 {
		t.Fatalf("the Live session as started reads as changed: %v", changed)
	}
	if changed, revert := live.Check(decodeSession(t, strings.Replace(started, `["session.input_audio.mute","session.input_audio.unmute","session.close"]`, `"all"`, 1))); !slices.Equal(changed, []string{"client.data_channel"}) || revert != nil {
		t.Fatalf("a lifted allowlist: %v, revert %s", changed, revert)
	}
}
