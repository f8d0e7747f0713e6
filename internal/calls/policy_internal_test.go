package calls

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/rtgate/rtgate/internal/usage"
)

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPolicyComparesLockedFields(t *testing.T) {
	server := `{"type":"realtime","model":"gpt-realtime-2","instructions":"be kind","audio":{"output":{"voice":"marin"},"input":{"turn_detection":{"type":"server_vad"}}},"tools":[]}`
	created := `{"type":"realtime","model":"gpt-realtime-2","instructions":"be kind","tools":[],"tool_choice":"auto","max_output_tokens":"inf","prompt":null,
		"audio":{"output":{"voice":"marin","speed":1},"input":{"turn_detection":{"type":"server_vad","threshold":0.5,"silence_duration_ms":200}}},"output_modalities":["audio"]}`
	for _, tc := range []struct {
		name    string
		session string
		changed []string
	}{
		{"the session as created", created, nil},
		{"a field nobody locks", `{"output_modalities":["text"]}`, nil},
		{"instructions", `{"instructions":"be rude"}`, []string{"instructions"}},
		{"instructions removed", `{"instructions":null}`, []string{"instructions"}},
		{"a tool added", `{"tools":[{"type":"function","name":"x"}]}`, []string{"tools"}},
		{"tool choice (learned)", `{"tool_choice":"required"}`, []string{"tool_choice"}},
		{"output limit (learned)", `{"max_output_tokens":4096}`, []string{"max_output_tokens"}},
		{"prompt (learned)", `{"prompt":{"id":"pmpt_1"}}`, []string{"prompt"}},
		{"voice", `{"audio":{"output":{"voice":"ash","speed":1}}}`, []string{"audio.output.voice"}},
		{"turn detection type, stated by the server", `{"audio":{"input":{"turn_detection":{"type":"semantic_vad"}}}}`, []string{"audio.input.turn_detection"}},
		{"turn detection members the server did not state", `{"audio":{"input":{"turn_detection":{"type":"server_vad","threshold":0.9}}}}`, nil},
		{"turn detection off", `{"audio":{"input":{"turn_detection":null}}}`, []string{"audio.input.turn_detection"}},
		{"model", `{"model":"gpt-realtime-mini"}`, []string{"model"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := newReference(KindRealtime, json.RawMessage(server))
			if err != nil {
				t.Fatal(err)
			}
			ref.learn(decodeJSON(t, created))
			s := decodeJSON(t, created)
			for k, v := range decodeJSON(t, tc.session) {
				if k == "audio" {
					a := s["audio"].(map[string]any)
					for k2, v2 := range v.(map[string]any) {
						a[k2] = v2
					}
					continue
				}
				s[k] = v
			}
			if got := ref.changed(s); !slices.Equal(got, tc.changed) {
				t.Fatalf("changed %v, want %v", got, tc.changed)
			}
		})
	}
}

func TestPolicyRevertPutsBackOnlyWhatChanged(t *testing.T) {
	ref, err := newReference(KindRealtime, json.RawMessage(`{"type":"realtime","model":"m","instructions":"be kind","audio":{"output":{"voice":"marin"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	ref.learn(decodeJSON(t, `{"tools":[],"instructions":"learned is ignored when stated"}`))
	b, all := ref.revert([]string{"instructions", "audio.output.voice", "tools"}, "rtgate_revert_1")
	want := `{"event_id":"rtgate_revert_1","session":{"audio":{"output":{"voice":"marin"}},"instructions":"be kind","tools":[],"type":"realtime"},"type":"session.update"}`
	if string(b) != want || !all {
		t.Fatalf("revert %s (all %v)\nwant %s", b, all, want)
	}
	if _, all := ref.revert([]string{"model", "instructions"}, "x"); all {
		t.Fatal("a model change was called revertible")
	}
	if b, _ := ref.revert([]string{"model"}, "x"); b != nil {
		t.Fatalf("a revert of the model alone: %s", b)
	}
	if got := string(ref.reassert("rtgate_reassert_2")); got != `{"event_id":"rtgate_reassert_2","session":{"audio":{"output":{"voice":"marin"}},"instructions":"be kind","type":"realtime"},"type":"session.update"}` {
		t.Fatalf("reassert %s", got)
	}

	live, err := newReference(KindLive, json.RawMessage(`{"model":"gpt-live-1","client":{"data_channel":{"allowed_client_events":["session.close"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	live.learn(decodeJSON(t, `{"model":"gpt-live-1","instructions":null,"delegation":{"type":"client","acknowledgement_delay_ms":0},"client":{"data_channel":{"allowed_client_events":["session.close"],"allowed_server_events":"all"}}}`))
	if got := live.changed(decodeJSON(t, `{"model":"gpt-live-1","instructions":null,"delegation":{"type":"client","acknowledgement_delay_ms":0},"client":{"data_channel":{"allowed_client_events":"all"}}}`)); !slices.Equal(got, []string{"client.data_channel"}) {
		t.Fatalf("a lifted allowlist: %v", got)
	}
	if b, all := live.revert([]string{"delegation"}, "e"); string(b) != `{"event_id":"e","session":{"delegation":{"acknowledgement_delay_ms":0,"type":"client"}},"type":"session.update"}` || !all {
		t.Fatalf("Live revert %s %v", b, all)
	}
	if live.reassert("e") != nil {
		t.Fatal("a Live session has nothing to assert again")
	}
	if _, err := newReference(KindLive, json.RawMessage(`[1]`)); err == nil {
		t.Fatal("a session that is not an object was accepted")
	}
}

func TestEventsUsageAndActivity(t *testing.T) {
	ev, err := parseEvent([]byte(`{"type":"response.done","response":{"usage":{"total_tokens":999,"input_tokens":500,"output_tokens":300,
		"input_token_details":{"cached_tokens":100,"text_tokens":50,"audio_tokens":400,"image_tokens":0,"cached_tokens_details":{"text_tokens":20,"audio_tokens":60}},
		"output_token_details":{"text_tokens":40,"audio_tokens":250}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := usage.Usage{InputTextTokens: 50, InputAudioTokens: 450, CachedTextTokens: 20, CachedAudioTokens: 80, OutputTextTokens: 40, OutputAudioTokens: 260, Responses: 1}
	if got := ev.Response.Usage.delta(); got != want {
		t.Fatalf("delta %+v, want %+v (unplaced totals count as audio)", got, want)
	}
	for _, tc := range []struct {
		raw  string
		want int64
	}{
		{`{"type":"session.usage.updated","usage":{"seconds":12.3456}}`, 12346},
		{`{"type":"session.closed","reason":"expired","usage":{"seconds":0}}`, 0},
		{`{"type":"session.usage.updated","usage":{}}`, -1},
		{`{"type":"session.usage.updated","usage":{"seconds":-1}}`, -1},
		{`{"type":"session.usage.updated"}`, -1},
	} {
		ev, err := parseEvent([]byte(tc.raw))
		if err != nil || ev.liveMillis() != tc.want {
			t.Errorf("%s: %d ms (%v), want %d", tc.raw, ev.liveMillis(), err, tc.want)
		}
	}
	for _, tc := range []struct {
		kind Kind
		typ  string
		want activity
	}{
		{KindRealtime, "input_audio_buffer.speech_started", activitySpeechStart},
		{KindRealtime, "input_audio_buffer.speech_stopped", activitySpeechStop},
		{KindRealtime, "response.created", activityResponseStart},
		{KindRealtime, "response.done", activityResponseStop},
		{KindRealtime, "conversation.item.added", activityPulse},
		{KindRealtime, "session.updated", activityNone},
		{KindRealtime, "rate_limits.updated", activityNone},
		{KindLive, "session.input_transcript.delta", activityPulse},
		{KindLive, "session.output_audio.delta", activityPulse},
		{KindLive, "session.usage.updated", activityNone},
		{KindLive, "session.input_audio.append", activityNone},
		{KindLive, "response.done", activityNone},
	} {
		if got := activityOf(tc.kind, tc.typ); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.kind, tc.typ, got, tc.want)
		}
	}
}

// FuzzServerEvent: whatever a sideband delivers, reading it and comparing
// its session never panics.
func FuzzServerEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"session.updated","session":{"instructions":"x","audio":{"output":{"voice":"ash"}}}}`,
		`{"type":"session.created","session":{"audio":null,"tools":{"a":1}}}`,
		`{"type":"response.done","response":{"usage":{"input_tokens":-5,"input_token_details":{"cached_tokens_details":null}}}}`,
		`{"type":"session.closed","usage":{"seconds":1e308}}`,
		`{"type":"error","error":{"event_id":"rtgate_revert_1"}}`,
	} {
		f.Add([]byte(s))
	}
	ref, err := newReference(KindRealtime, json.RawMessage(`{"model":"m","instructions":"i","audio":{"input":{"turn_detection":{"type":"server_vad"}}}}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := parseEvent(b)
		if err != nil {
			return
		}
		_ = ev.liveMillis()
		_ = ev.errorAbout("rtgate_revert_1")
		if ev.Response != nil && ev.Response.Usage != nil {
			_ = ev.Response.Usage.delta()
		}
		if ev.Session != nil {
			r := *ref
			r.learned = map[string]any{}
			r.learn(ev.Session)
			if fields := r.changed(ev.Session); len(fields) > 0 {
				r.revert(fields, "e")
			}
		}
	})
}

// BenchmarkSessionUpdated is the controller's work for one session.updated
// of a realistic size (instructions of 2 KB, five tools): decode the event,
// compare the locked fields.
func BenchmarkSessionUpdated(b *testing.B) {
	tools := `[` + strings.Repeat(`{"type":"function","name":"lookup","description":"Look a record up by its id.","parameters":{"type":"object","properties":{"id":{"type":"string"}}}},`, 4) +
		`{"type":"function","name":"last","parameters":{}}]`
	instr := strings.Repeat("Be helpful and brief. ", 100)
	server := `{"type":"realtime","model":"gpt-realtime-2","instructions":"` + instr + `","tools":` + tools + `,"audio":{"output":{"voice":"marin"}}}`
	ev := []byte(`{"type":"session.updated","event_id":"event_1","session":{"type":"realtime","object":"realtime.session","id":"sess_1","model":"gpt-realtime-2","output_modalities":["audio"],"instructions":"` + instr + `","tools":` + tools + `,"tool_choice":"auto","max_output_tokens":"inf","prompt":null,"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":200,"create_response":true,"interrupt_response":true,"idle_timeout_ms":null}},"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin","speed":1}}}}`)
	ref, err := newReference(KindRealtime, json.RawMessage(server))
	if err != nil {
		b.Fatal(err)
	}
	first, _ := parseEvent(ev)
	ref.learn(first.Session)
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		e, err := parseEvent(ev)
		if err != nil || len(ref.changed(e.Session)) != 0 {
			b.Fatal("unexpected change")
		}
	}
}

// BenchmarkSkimmedEvent is the controller's work for an event it only
// skims: a GPT-Live sideband's reflected input audio (100 ms of 24 kHz
// PCM16, base64), which arrives all the time.
func BenchmarkSkimmedEvent(b *testing.B) {
	ev := []byte(`{"audio":"` + strings.Repeat("QUJD", 1600) + `","type":"session.input_audio.append"}`)
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		e, err := parseEvent(ev)
		if err != nil || activityOf(KindLive, e.Type) != activityNone {
			b.Fatal("unexpected")
		}
	}
}
