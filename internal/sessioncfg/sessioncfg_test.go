package sessioncfg_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rtgate/rtgate/internal/sessioncfg"
)

// testEnv is rtgate's environment with its defaults: REALTIME_MODEL and
// REALTIME_VOICE always have a value, REALTIME_INSTRUCTIONS is empty.
func testEnv() sessioncfg.Env {
	return sessioncfg.Env{
		Realtime: sessioncfg.Base{
			Model:        sessioncfg.Setting{Var: "REALTIME_MODEL", Value: "gpt-realtime-2.1"},
			Voice:        sessioncfg.Setting{Var: "REALTIME_VOICE", Value: "marin"},
			Instructions: sessioncfg.Setting{Var: "REALTIME_INSTRUCTIONS"},
		},
		Live: sessioncfg.Base{
			Model:        sessioncfg.Setting{Var: "LIVE_MODEL"},
			Voice:        sessioncfg.Setting{Var: "LIVE_VOICE"},
			Instructions: sessioncfg.Setting{Var: "LIVE_INSTRUCTIONS"},
		},
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func TestFileProblemsNameTheVariableAndThePath(t *testing.T) {
	withInstructions := testEnv()
	withInstructions.Realtime.Instructions.Value = "From the environment."
	withLiveEnv := testEnv()
	withLiveEnv.Live.Model.Value = "gpt-live-1.1"
	withLiveEnv.Live.Voice.Value = "cedar"

	cases := []struct {
		name string
		env  *sessioncfg.Env
		file string
		want []string // each must appear in the error
	}{
		// The file as a whole.
		{name: "not JSON", file: `{"realtime": {`, want: []string{"invalid JSON"}},
		{name: "empty file", file: ``, want: []string{"invalid JSON"}},
		{name: "two values", file: `{} {}`, want: []string{"unexpected data after the top-level value"}},
		{name: "an array at the top", file: `[]`, want: []string{"must be an object, got an array"}},
		{name: "unknown top-level part", file: `{"realtme":{}}`, want: []string{"realtme: unknown field; expected one of: live, realtime"}},
		{name: "a key given twice", file: `{"realtime":{"instructions":"a","instructions":"b"}}`, want: []string{"realtime.instructions: duplicate key"}},

		// Realtime: fields the environment owns.
		{name: "model belongs to REALTIME_MODEL", file: `{"realtime":{"model":"gpt-realtime"}}`, want: []string{"realtime.model: is set by REALTIME_MODEL"}},
		{name: "voice belongs to REALTIME_VOICE", file: `{"realtime":{"audio":{"output":{"voice":"cedar"}}}}`, want: []string{"realtime.audio.output.voice: is set by REALTIME_VOICE"}},
		{name: "instructions in both places", env: &withInstructions, file: `{"realtime":{"instructions":"From the file."}}`,
			want: []string{"realtime.instructions: is already set by REALTIME_INSTRUCTIONS"}},

		// Realtime: unknown members, types, enums, limits.
		{name: "unknown nested member", file: `{"realtime":{"audio":{"input":{"turn_detecton":null}}}}`,
			want: []string{"realtime.audio.input.turn_detecton: unknown field; expected one of: format, noise_reduction, transcription, turn_detection"}},
		{name: "type must be realtime", file: `{"realtime":{"type":"transcription"}}`, want: []string{`realtime.type: must be one of "realtime", got "transcription"`}},
		{name: "instructions must be a string", file: `{"realtime":{"instructions":42}}`, want: []string{"realtime.instructions: must be a string, got a number"}},
		{name: "both output modalities", file: `{"realtime":{"output_modalities":["audio","text"]}}`, want: []string{"realtime.output_modalities: must hold exactly one"}},
		{name: "unknown modality", file: `{"realtime":{"output_modalities":["video"]}}`, want: []string{`realtime.output_modalities[0]: must be one of "audio", "text", got "video"`}},
		{name: "max_output_tokens zero", file: `{"realtime":{"max_output_tokens":0}}`, want: []string{"realtime.max_output_tokens: must be an integer between 1 and 4096, got 0"}},
		{name: "max_output_tokens above 4096", file: `{"realtime":{"max_output_tokens":4097}}`, want: []string{"between 1 and 4096, got 4097"}},
		{name: "max_output_tokens fraction", file: `{"realtime":{"max_output_tokens":1.5}}`, want: []string{"must be an integer between 1 and 4096, got 1.5"}},
		{name: "max_output_tokens exponent form", file: `{"realtime":{"max_output_tokens":1e3}}`, want: []string{"got 1e3"}},
		{name: "max_output_tokens upper-case INF", file: `{"realtime":{"max_output_tokens":"INF"}}`, want: []string{`realtime.max_output_tokens: must be one of "inf", got "INF"`}},
		{name: "max_output_tokens as a numeric string", file: `{"realtime":{"max_output_tokens":"100"}}`, want: []string{`got "100"`}},
		{name: "speed too fast", file: `{"realtime":{"audio":{"output":{"speed":1.6}}}}`, want: []string{"realtime.audio.output.speed: must be a number between 0.25 and 1.5, got 1.6"}},
		{name: "pcm at another rate", file: `{"realtime":{"audio":{"input":{"format":{"type":"audio/pcm","rate":16000}}}}}`, want: []string{"realtime.audio.input.format.rate: must be an integer between 24000 and 24000"}},
		{name: "unknown audio format", file: `{"realtime":{"audio":{"output":{"format":{"type":"audio/opus"}}}}}`, want: []string{"realtime.audio.output.format.type: must be one of"}},
		{name: "include value", file: `{"realtime":{"include":["logprobs"]}}`, want: []string{"realtime.include[0]: must be one of"}},

		// Turn detection.
		{name: "server_vad has no eagerness", file: `{"realtime":{"audio":{"input":{"turn_detection":{"type":"server_vad","eagerness":"low"}}}}}`,
			want: []string{"realtime.audio.input.turn_detection.eagerness: unknown field"}},
		{name: "semantic_vad has no threshold", file: `{"realtime":{"audio":{"input":{"turn_detection":{"type":"semantic_vad","threshold":0.5}}}}}`,
			want: []string{"realtime.audio.input.turn_detection.threshold: unknown field"}},
		{name: "turn detection without a type", file: `{"realtime":{"audio":{"input":{"turn_detection":{"threshold":0.5}}}}}`,
			want: []string{"realtime.audio.input.turn_detection.type: is required"}},
		{name: "idle timeout below 5 s", file: `{"realtime":{"audio":{"input":{"turn_detection":{"type":"server_vad","idle_timeout_ms":4999}}}}}`,
			want: []string{"idle_timeout_ms: must be an integer between 5000 and 30000, got 4999"}},
		{name: "threshold above 1", file: `{"realtime":{"audio":{"input":{"turn_detection":{"type":"server_vad","threshold":1.01}}}}}`,
			want: []string{"threshold: must be a number between 0 and 1, got 1.01"}},
		{name: "eagerness value", file: `{"realtime":{"audio":{"input":{"turn_detection":{"type":"semantic_vad","eagerness":"eager"}}}}}`,
			want: []string{"eagerness: must be one of"}},
		{name: "create_response as a string", file: `{"realtime":{"audio":{"input":{"turn_detection":{"type":"server_vad","create_response":"true"}}}}}`,
			want: []string{"create_response: must be true or false, got a string"}},

		// Transcription and noise reduction.
		{name: "unknown transcription model", file: `{"realtime":{"audio":{"input":{"transcription":{"model":"whisper-2"}}}}}`,
			want: []string{"realtime.audio.input.transcription.model: must be one of"}},
		{name: "delay needs gpt-realtime-whisper", file: `{"realtime":{"audio":{"input":{"transcription":{"model":"gpt-transcribe","delay":"low"}}}}}`,
			want: []string{"realtime.audio.input.transcription.delay: is supported only with model \"gpt-realtime-whisper\""}},
		{name: "no prompt with gpt-realtime-whisper", file: `{"realtime":{"audio":{"input":{"transcription":{"model":"gpt-realtime-whisper","prompt":"x"}}}}}`,
			want: []string{"transcription.prompt: is not supported with gpt-realtime-whisper"}},
		{name: "noise reduction type", file: `{"realtime":{"audio":{"input":{"noise_reduction":{"type":"mid_field"}}}}}`,
			want: []string{"realtime.audio.input.noise_reduction.type: must be one of \"near_field\", \"far_field\""}},
		{name: "noise reduction needs its type", file: `{"realtime":{"audio":{"input":{"noise_reduction":{"strength":0.5}}}}}`,
			want: []string{"realtime.audio.input.noise_reduction.type: is required"}},

		// Tools and tool choice.
		{name: "tool without a type", file: `{"realtime":{"tools":[{"name":"x"}]}}`, want: []string{"realtime.tools[0].type: is required"}},
		{name: "hosted tool type is not a Realtime tool", file: `{"realtime":{"tools":[{"type":"web_search"}]}}`,
			want: []string{`realtime.tools[0].type: must be one of "function", "mcp", got "web_search"`}},
		{name: "function without a name", file: `{"realtime":{"tools":[{"type":"function","description":"x"}]}}`, want: []string{"realtime.tools[0].name: is required"}},
		{name: "function name with a space", file: `{"realtime":{"tools":[{"type":"function","name":"get weather"}]}}`,
			want: []string{`realtime.tools[0].name: must be 1-64 letters, digits, _ or -, got "get weather"`}},
		{name: "parameters must be a schema object", file: `{"realtime":{"tools":[{"type":"function","name":"f","parameters":"{}"}]}}`,
			want: []string{"realtime.tools[0].parameters: must be an object, got a string"}},
		{name: "unknown tool member", file: `{"realtime":{"tools":[{"type":"function","name":"f","strict":true}]}}`,
			want: []string{"realtime.tools[0].strict: unknown field; expected one of: description, name, parameters, type"}},
		{name: "a function defined twice", file: `{"realtime":{"tools":[{"type":"function","name":"f"},{"type":"function","name":"f"}]}}`,
			want: []string{`realtime.tools[1].name: repeats the function "f"`}},
		{name: "mcp without a server", file: `{"realtime":{"tools":[{"type":"mcp","server_label":"crm"}]}}`,
			want: []string{"realtime.tools[0]: must set exactly one of server_url, connector_id or tunnel_id"}},
		{name: "mcp credentials would reach the browser", file: `{"realtime":{"tools":[{"type":"mcp","server_label":"crm","server_url":"https://mcp.example.com","authorization":"Bearer x"}]}}`,
			want: []string{"realtime.tools[0].authorization: is refused"}},
		{name: "tool_choice names an unknown function", file: `{"realtime":{"tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"g"}}}`,
			want: []string{`realtime.tool_choice.name: names no function in tools: "g"`}},
		{name: "tool_choice function without name", file: `{"realtime":{"tool_choice":{"type":"function"}}}`, want: []string{"realtime.tool_choice.name: is required"}},
		{name: "tool_choice mode", file: `{"realtime":{"tool_choice":"any"}}`, want: []string{`realtime.tool_choice: must be one of "auto", "none", "required", got "any"`}},
		{name: "tool_choice required without tools", file: `{"realtime":{"tool_choice":"required"}}`, want: []string{`realtime.tool_choice: is "required" but there are no tools`}},
		{name: "tool_choice mcp names an unknown server", file: `{"realtime":{"tool_choice":{"type":"mcp","server_label":"crm"}}}`,
			want: []string{`realtime.tool_choice.server_label: names no mcp server in tools: "crm"`}},
		{name: "too many tools", file: `{"realtime":{"tools":[` + strings.Repeat(`{"type":"function","name":"f"},`, 128) + `{"type":"function","name":"g"}]}}`,
			want: []string{"realtime.tools: must have at most 128 items, got 129"}},

		// Tracing, truncation, reasoning, prompt.
		{name: "tracing on", file: `{"realtime":{"tracing":"on"}}`, want: []string{`realtime.tracing: must be one of "auto", got "on"`}},
		{name: "tracing member", file: `{"realtime":{"tracing":{"workflow":"x"}}}`, want: []string{"realtime.tracing.workflow: unknown field"}},
		{name: "retention ratio required", file: `{"realtime":{"truncation":{"type":"retention_ratio"}}}`, want: []string{"realtime.truncation.retention_ratio: is required"}},
		{name: "reasoning effort", file: `{"realtime":{"reasoning":{"effort":"max"}}}`, want: []string{"realtime.reasoning.effort: must be one of"}},
		{name: "prompt without id", file: `{"realtime":{"prompt":{"version":"1"}}}`, want: []string{"realtime.prompt.id: is required"}},
		{name: "prompt variable of an unknown type", file: `{"realtime":{"prompt":{"id":"pmpt_1","variables":{"city":{"type":"input_audio"}}}}}`,
			want: []string{"realtime.prompt.variables.city.type: must be one of"}},

		// Live.
		{name: "live model", file: `{"live":{"model":"gpt-live-2"}}`, want: []string{`live.model: must be one of "gpt-live-1", "gpt-live-1.1", got "gpt-live-2"`}},
		{name: "live model set twice", env: &withLiveEnv, file: `{"live":{"model":"gpt-live-1"}}`, want: []string{"live.model: is already set by LIVE_MODEL"}},
		{name: "live voice set twice", env: &withLiveEnv, file: `{"live":{"audio":{"output":{"voice":"marin"}}}}`, want: []string{"live.audio.output.voice: is already set by LIVE_VOICE"}},
		{name: "live voice", file: `{"live":{"audio":{"output":{"voice":"nova"}}}}`, want: []string{"live.audio.output.voice: must be one of"}},
		{name: "live audio format is for WebSockets only", file: `{"live":{"audio":{"output":{"format":{"type":"audio/pcm"}}}}}`, want: []string{"live.audio.output.format: unknown field"}},
		{name: "store as a string", file: `{"live":{"store":"yes"}}`, want: []string{"live.store: must be true or false, got a string"}},
		{name: "delegation type", file: `{"live":{"delegation":{"type":"server"}}}`, want: []string{`live.delegation.type: must be one of "client", "responses", got "server"`}},
		{name: "decisions delegation is not taken", file: `{"live":{"delegation":{"type":"decisions","decisions":{}}}}`, want: []string{`live.delegation.type: must be one of "client", "responses", got "decisions"`}},
		{name: "responses delegation needs its settings", file: `{"live":{"delegation":{"type":"responses"}}}`, want: []string{"live.delegation.responses: is required"}},
		{name: "responses delegation needs a model", file: `{"live":{"delegation":{"type":"responses","responses":{"instructions":"x"}}}}`,
			want: []string{"live.delegation.responses.model: is required"}},
		{name: "client delegation takes no responses", file: `{"live":{"delegation":{"type":"client","responses":{"model":"x"}}}}`,
			want: []string{"live.delegation.responses: unknown field; expected one of: acknowledgement_delay_ms, type"}},
		{name: "responses tool type", file: `{"live":{"delegation":{"type":"responses","responses":{"model":"m","tools":[{"type":"retrieval"}]}}}}`,
			want: []string{"live.delegation.responses.tools[0].type: must be one of"}},
		{name: "hosted responses tools take no settings", file: `{"live":{"delegation":{"type":"responses","responses":{"model":"m","tools":[{"type":"web_search","search_context_size":"low"}]}}}}`,
			want: []string{"live.delegation.responses.tools[0].search_context_size: unknown field"}},
		{name: "responses reasoning effort", file: `{"live":{"delegation":{"type":"responses","responses":{"model":"m","reasoning":{"effort":"extreme"}}}}}`,
			want: []string{"live.delegation.responses.reasoning.effort: must be one of"}},
		{name: "allowed client events: an unknown event", file: `{"live":{"client":{"data_channel":{"allowed_client_events":["session.update","conversation.item.create"]}}}}`,
			want: []string{`live.client.data_channel.allowed_client_events[1]: must be one of`, `got "conversation.item.create"`}},
		{name: "allowed client events: none is not all", file: `{"live":{"client":{"data_channel":{"allowed_client_events":"none"}}}}`,
			want: []string{`live.client.data_channel.allowed_client_events: must be one of "all", got "none"`}},
		{name: "allowed client events: repeated", file: `{"live":{"client":{"data_channel":{"allowed_client_events":["session.close","session.close"]}}}}`,
			want: []string{`allowed_client_events[1]: repeats "session.close"`}},
		{name: "allowed server events are selectors", file: `{"live":{"client":{"data_channel":{"allowed_server_events":["session.closed"]}}}}`,
			want: []string{"live.client.data_channel.allowed_server_events[0]: must be an object, got a string"}},
		{name: "response.event needs its selector", file: `{"live":{"client":{"data_channel":{"allowed_server_events":[{"type":"response.event"}]}}}}`,
			want: []string{`allowed_server_events[0].response_event: is required when type is "response.event"`}},
		{name: "a selector only for response.event", file: `{"live":{"client":{"data_channel":{"allowed_server_events":[{"type":"session.closed","response_event":"x"}]}}}}`,
			want: []string{`allowed_server_events[0].response_event: is allowed only when type is "response.event"`}},
		{name: "client needs its data channel", file: `{"live":{"client":{}}}`, want: []string{"live.client.data_channel: is required"}},
		{name: "input message with two parts", file: `{"live":{"input":[{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]}]}}`,
			want: []string{"live.input[0].content: must hold exactly one text part, got 2"}},
		{name: "input role", file: `{"live":{"input":[{"role":"system","content":[{"text":"a"}]}]}}`, want: []string{"live.input[0].role: must be one of"}},
		{name: "triggers", file: `{"live":{"triggers":[]}}`, want: []string{"live.triggers: is not supported"}},

		// Every problem is reported, not only the first.
		{name: "all problems together", file: `{"realtime":{"model":"x","max_output_tokens":0},"live":{"store":1}}`,
			want: []string{"realtime.model:", "realtime.max_output_tokens:", "live.store:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv()
			if tc.env != nil {
				env = *tc.env
			}
			_, err := sessioncfg.Parse("/etc/rtgate/session.json", []byte(tc.file), env)
			if err == nil {
				t.Fatal("accepted")
			}
			var se *sessioncfg.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *sessioncfg.Error", err, err)
			}
			msg := err.Error()
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "SESSION_CONFIG_FILE /etc/rtgate/session.json: ") {
					t.Errorf("line does not name the variable and the file: %q", line)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\ndoes not contain %q", msg, w)
				}
			}
		})
	}
}

func TestValidFilesLoad(t *testing.T) {
	cases := []struct{ name, file string }{
		{"no parts", `{}`},
		{"empty parts", `{"realtime":{},"live":{}}`},
		{"nulls where OpenAI takes null", `{"realtime":{"tracing":null,"prompt":null,"include":null,"audio":{"input":{"transcription":null,"noise_reduction":null,"turn_detection":null}}},
			"live":{"instructions":null,"delegation":null}}`},
		{"max_output_tokens inf", `{"realtime":{"max_output_tokens":"inf"}}`},
		{"max_output_tokens bounds", `{"realtime":{"max_output_tokens":4096}}`},
		{"speed bounds in any number form", `{"realtime":{"audio":{"output":{"speed":0.25}}}}`},
		{"speed as an exponent", `{"realtime":{"audio":{"output":{"speed":1.5e0}}}}`},
		{"tool choice forms", `{"realtime":{"tools":[{"type":"function","name":"f"},{"type":"mcp","server_label":"crm","connector_id":"connector_gmail"}],"tool_choice":{"type":"mcp","server_label":"crm","name":"search"}}}`},
		{"tracing object", `{"realtime":{"tracing":{"workflow_name":"w","group_id":"g","metadata":{"a":1}}}}`},
		{"semantic vad", `{"realtime":{"audio":{"input":{"turn_detection":{"type":"semantic_vad","eagerness":"low","create_response":false}}}}}`},
		{"allowed events all", `{"live":{"client":{"data_channel":{"allowed_client_events":"all","allowed_server_events":"all"}}}}`},
		{"allowed events none", `{"live":{"client":{"data_channel":{"allowed_client_events":[],"allowed_server_events":[{"type":"response.event","response_event":"response.output_text.delta"}]}}}}`},
		{"responses allowed tools", `{"live":{"delegation":{"type":"responses","responses":{"model":"m","tool_choice":{"type":"allowed_tools","mode":"auto","tools":[{"type":"function","name":"f"},{"type":"web_search"}]}}}}}`},
		{"shell tool", `{"live":{"delegation":{"type":"responses","responses":{"model":"m","tools":[{"type":"shell","environment":{"type":"container_auto","memory_limit":"4g","network_policy":{"type":"allowlist","allowed_domains":["example.com"]}}}]}}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sessioncfg.Parse("f.json", []byte(tc.file), testEnv()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadReadsTheFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := sessioncfg.Load(filepath.Join(dir, "missing.json"), testEnv()); err == nil ||
		!strings.Contains(err.Error(), "SESSION_CONFIG_FILE "+filepath.Join(dir, "missing.json")+": cannot be read: no such file or directory") {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, []byte(`{"realtime":{"instructions":"`+strings.Repeat("x", sessioncfg.MaxFileBytes)+`"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sessioncfg.Load(big, testEnv()); err == nil || !strings.Contains(err.Error(), "is larger than") {
		t.Errorf("big file: %v", err)
	}
	cfg, err := sessioncfg.Load("", testEnv())
	if err != nil || cfg.File() != "" {
		t.Fatalf("no file: %v", err)
	}
}

func TestDeprecatedTranscriptionModelWarns(t *testing.T) {
	cfg, err := sessioncfg.Parse("f.json", []byte(`{"realtime":{"audio":{"input":{"transcription":{"model":"whisper-1"}}}}}`), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings(); len(w) != 1 || !strings.Contains(w[0], "realtime.audio.input.transcription.model: whisper-1 has an announced OpenAI shutdown date of 2027-02-26") {
		t.Errorf("warnings %v", w)
	}
}

func TestRealtimeRender(t *testing.T) {
	file := `{"realtime":{"instructions":"From the file.","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],
		"max_output_tokens":512,"audio":{"output":{"speed":1.25},"input":{"turn_detection":{"type":"semantic_vad"}}}}}`
	cfg, err := sessioncfg.Parse("f.json", []byte(file), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	a, err := cfg.Realtime("gpt-realtime-2.1", "marin")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cfg.Realtime("gpt-realtime-2.1-mini", "cedar")
	again, _ := cfg.Realtime("gpt-realtime-2.1", "marin")
	if string(a) != string(again) {
		t.Errorf("rendering is not stable or a render changed the file:\n%s\n%s", a, again)
	}
	a[0] = 'X' // the caller's copy is its own
	if again, _ := cfg.Realtime("gpt-realtime-2.1", "marin"); again[0] != '{' {
		t.Error("Realtime returned shared bytes")
	}
	for i := range 100 { // beyond the render cache's bound, still right
		v := "voice_" + strconv.Itoa(i)
		b, _ := cfg.Realtime("gpt-realtime-2.1", v)
		if decode(t, b)["audio"].(map[string]any)["output"].(map[string]any)["voice"] != v {
			t.Fatalf("render %d: %s", i, b)
		}
	}
	a, _ = cfg.Realtime("gpt-realtime-2.1", "marin")
	s := decode(t, a)
	if s["type"] != "realtime" || s["model"] != "gpt-realtime-2.1" || s["instructions"] != "From the file." || s["max_output_tokens"] != 512.0 {
		t.Errorf("session %s", a)
	}
	out := s["audio"].(map[string]any)["output"].(map[string]any)
	if out["voice"] != "marin" || out["speed"] != 1.25 {
		t.Errorf("audio.output %v", out)
	}
	if s["audio"].(map[string]any)["input"].(map[string]any)["turn_detection"].(map[string]any)["type"] != "semantic_vad" {
		t.Errorf("audio.input lost: %s", a)
	}
	sb := decode(t, b)
	if sb["model"] != "gpt-realtime-2.1-mini" || sb["audio"].(map[string]any)["output"].(map[string]any)["voice"] != "cedar" {
		t.Errorf("the client's choice is not rendered: %s", b)
	}

	// Without a file: exactly what rtgate sent before the file existed.
	env := testEnv()
	env.Realtime.Instructions.Value = "From the environment."
	plain, err := sessioncfg.Parse("", nil, env)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := plain.Realtime("gpt-realtime-2.1", "marin")
	if want := `{"audio":{"output":{"voice":"marin"}},"instructions":"From the environment.","model":"gpt-realtime-2.1","type":"realtime"}`; string(got) != want {
		t.Errorf("env-only session\n got %s\nwant %s", got, want)
	}
}

func TestLiveRender(t *testing.T) {
	t.Run("the file alone, with the default data channel", func(t *testing.T) {
		cfg, err := sessioncfg.Parse("f.json", []byte(`{"live":{"model":"gpt-live-1.1","instructions":"Be brief.","store":true,"audio":{"output":{"voice":"vesper"}}}}`), testEnv())
		if err != nil {
			t.Fatal(err)
		}
		want := `{"audio":{"output":{"voice":"vesper"}},"client":{"data_channel":{"allowed_client_events":["session.input_audio.mute","session.input_audio.unmute","session.close"]}},"instructions":"Be brief.","model":"gpt-live-1.1","store":true}`
		if got := string(cfg.Live()); got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	})
	t.Run("the environment's values, the file's data channel", func(t *testing.T) {
		env := testEnv()
		env.Live.Model.Value, env.Live.Voice.Value, env.Live.Instructions.Value = "gpt-live-1", "cedar", "From the environment."
		cfg, err := sessioncfg.Parse("f.json", []byte(`{"live":{"client":{"data_channel":{"allowed_client_events":"all"}}}}`), env)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"audio":{"output":{"voice":"cedar"}},"client":{"data_channel":{"allowed_client_events":"all"}},"instructions":"From the environment.","model":"gpt-live-1"}`
		got := cfg.Live()
		if string(got) != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
		got[0] = 'X' // the caller may keep and change its copy
		if string(cfg.Live()) != want {
			t.Error("Live returned shared bytes")
		}
	})
}
