package simulator

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestClientSecretsRejectsBadRequests(t *testing.T) {
	const path = "/v1/realtime/client_secrets"
	tests := []struct {
		name   string
		hdr    map[string]string
		body   string
		status int
		typ    string
		code   string // "" = null
		param  string // "" = null
		msg    string // substring of the message
	}{
		{name: "missing key is 401 with code null", hdr: map[string]string{"Authorization": ""},
			status: 401, typ: "invalid_request_error", msg: "You didn't provide an API key"},
		{name: "non-bearer scheme counts as missing", hdr: map[string]string{"Authorization": "Basic " + testKey},
			status: 401, typ: "invalid_request_error", msg: "You didn't provide an API key"},
		{name: "wrong key is 401 invalid_api_key, masked", hdr: map[string]string{"Authorization": "Bearer sk-wrong-abcdefghijklmnopqrstuvwxyz1234"},
			status: 401, typ: "invalid_request_error", code: "invalid_api_key",
			msg: "Incorrect API key provided: sk-wrong" + strings.Repeat("*", 27) + "1234. You can find your API key at"},
		{name: "short wrong key is fully masked", hdr: map[string]string{"Authorization": "Bearer sk-short"},
			status: 401, typ: "invalid_request_error", code: "invalid_api_key", msg: "Incorrect API key provided: ********."},
		{name: "an ephemeral secret cannot mint", hdr: map[string]string{"Authorization": "Bearer ek_0123456789abcdef0123456789abcdef"},
			status: 401, typ: "invalid_request_error", code: "invalid_api_key"},
		{name: "content type must be JSON", hdr: map[string]string{"Content-Type": "text/plain"}, body: "{}",
			status: 400, typ: "invalid_request_error", code: "unsupported_content_type", msg: "'Content-Type: text/plain'"},
		{name: "missing content type", hdr: map[string]string{"Content-Type": ""}, body: "{}",
			status: 400, typ: "invalid_request_error", code: "unsupported_content_type"},
		{name: "malformed JSON", body: `{"session":`,
			status: 400, typ: "invalid_request_error", msg: "We could not parse the JSON body"},
		{name: "trailing data after the object", body: `{} {}`,
			status: 400, typ: "invalid_request_error", msg: "We could not parse the JSON body"},
		{name: "top level must be an object", body: `[]`,
			status: 400, typ: "invalid_request_error", msg: "We could not parse the JSON body"},
		{name: "unknown top-level field", body: `{"model":"gpt-realtime"}`,
			status: 400, typ: "invalid_request_error", code: "unknown_parameter", param: "model", msg: "Unknown parameter: 'model'."},
		{name: "expires_after must be an object", body: `{"expires_after":600}`,
			status: 400, typ: "invalid_request_error", code: "invalid_type", param: "expires_after",
			msg: "Invalid type for 'expires_after': expected an object, but got an integer instead."},
		{name: "anchor only created_at", body: `{"expires_after":{"anchor":"now","seconds":60}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_value", param: "expires_after.anchor",
			msg: "Invalid value: 'now'. Supported values are: 'created_at'."},
		{name: "seconds below 10", body: `{"expires_after":{"anchor":"created_at","seconds":9}}`,
			status: 400, typ: "invalid_request_error", code: "integer_below_min_value", param: "expires_after.seconds",
			msg: "Expected a value >= 10, but got 9 instead."},
		{name: "seconds above 7200", body: `{"expires_after":{"seconds":7201}}`,
			status: 400, typ: "invalid_request_error", code: "integer_above_max_value", param: "expires_after.seconds",
			msg: "Expected a value <= 7200, but got 7201 instead."},
		{name: "seconds as a string", body: `{"expires_after":{"seconds":"600"}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_type", param: "expires_after.seconds",
			msg: "expected an integer, but got a string instead."},
		{name: "seconds as a decimal", body: `{"expires_after":{"seconds":60.5}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_type", param: "expires_after.seconds",
			msg: "but got a decimal number instead."},
		{name: "unknown expires_after field", body: `{"expires_after":{"seconds":60,"minutes":1}}`,
			status: 400, typ: "invalid_request_error", code: "unknown_parameter", param: "expires_after.minutes"},
		{name: "session must be an object", body: `{"session":"realtime"}`,
			status: 400, typ: "invalid_request_error", code: "invalid_type", param: "session"},
		{name: "session.type is required", body: `{"session":{"model":"gpt-realtime"}}`,
			status: 400, typ: "invalid_request_error", code: "missing_required_parameter", param: "session.type",
			msg: "Missing required parameter: 'session.type'."},
		{name: "session.type realtime or transcription", body: `{"session":{"type":"translation"}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_value", param: "session.type",
			msg: "Supported values are: 'realtime' and 'transcription'."},
		{name: "session.type must be a string", body: `{"session":{"type":1}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_type", param: "session.type"},
		{name: "unknown session field", body: `{"session":{"type":"realtime","voice":"alloy"}}`,
			status: 400, typ: "invalid_request_error", code: "unknown_parameter", param: "session.voice"},
		{name: "model must not be empty", body: `{"session":{"type":"realtime","model":""}}`,
			status: 400, typ: "invalid_request_error", code: "empty_string", param: "session.model"},
		{name: "model must be a string", body: `{"session":{"type":"realtime","model":4}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_type", param: "session.model"},
		{name: "instructions must be a string", body: `{"session":{"type":"realtime","instructions":null}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_type", param: "session.instructions",
			msg: "but got null instead."},
		{name: "voice must be documented", body: `{"session":{"type":"realtime","audio":{"output":{"voice":"robot"}}}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_value", param: "session.audio.output.voice",
			msg: "Invalid value: 'robot'. Supported values are: 'alloy', 'ash',"},
		{name: "custom voice object needs an id", body: `{"session":{"type":"realtime","audio":{"output":{"voice":{}}}}}`,
			status: 400, typ: "invalid_request_error", code: "missing_required_parameter", param: "session.audio.output.voice.id"},
		{name: "speed at most 1.5", body: `{"session":{"type":"realtime","audio":{"output":{"speed":2}}}}`,
			status: 400, typ: "invalid_request_error", code: "decimal_above_max_value", param: "session.audio.output.speed"},
		{name: "audio format type", body: `{"session":{"type":"realtime","audio":{"input":{"format":{"type":"audio/mp3"}}}}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_value", param: "session.audio.input.format.type"},
		{name: "pcm rate only 24000", body: `{"session":{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcm","rate":16000}}}}}`,
			status: 400, typ: "invalid_request_error", code: "integer_below_min_value", param: "session.audio.input.format.rate"},
		{name: "idle timeout in range", body: `{"session":{"type":"realtime","audio":{"input":{"turn_detection":{"type":"server_vad","idle_timeout_ms":100}}}}}`,
			status: 400, typ: "invalid_request_error", code: "integer_below_min_value", param: "session.audio.input.turn_detection.idle_timeout_ms"},
		{name: "turn detection type required", body: `{"session":{"type":"realtime","audio":{"input":{"turn_detection":{"threshold":0.5}}}}}`,
			status: 400, typ: "invalid_request_error", code: "missing_required_parameter", param: "session.audio.input.turn_detection.type"},
		{name: "unknown audio member", body: `{"session":{"type":"realtime","audio":{"output":{"volume":1}}}}`,
			status: 400, typ: "invalid_request_error", code: "unknown_parameter", param: "session.audio.output.volume"},
		{name: "not both output modalities", body: `{"session":{"type":"realtime","output_modalities":["audio","text"]}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_value", param: "session.output_modalities"},
		{name: "output modality values", body: `{"session":{"type":"realtime","output_modalities":["video"]}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_value", param: "session.output_modalities[0]"},
		{name: "max_output_tokens at least 1", body: `{"session":{"type":"realtime","max_output_tokens":0}}`,
			status: 400, typ: "invalid_request_error", code: "integer_below_min_value", param: "session.max_output_tokens"},
		{name: "max_output_tokens string only inf", body: `{"session":{"type":"realtime","max_output_tokens":"lots"}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_value", param: "session.max_output_tokens"},
		{name: "a hosted tool is not a Realtime tool", body: `{"session":{"type":"realtime","tools":[{"type":"web_search"}]}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_value", param: "session.tools[0].type",
			msg: "Supported values are: 'function' and 'mcp'."},
		{name: "unknown function tool member", body: `{"session":{"type":"realtime","tools":[{"type":"function","name":"f","strict":true}]}}`,
			status: 400, typ: "invalid_request_error", code: "unknown_parameter", param: "session.tools[0].strict"},
		{name: "untyped tool is a function", body: `{"session":{"type":"realtime","tools":[{"name":"f","server_label":"x"}]}}`,
			status: 400, typ: "invalid_request_error", code: "unknown_parameter", param: "session.tools[0].server_label"},
		{name: "function parameters are a schema object", body: `{"session":{"type":"realtime","tools":[{"type":"function","name":"f","parameters":"{}"}]}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_type", param: "session.tools[0].parameters"},
		{name: "mcp tool needs its server label", body: `{"session":{"type":"realtime","tools":[{"type":"mcp","server_url":"https://mcp.example.com"}]}}`,
			status: 400, typ: "invalid_request_error", code: "missing_required_parameter", param: "session.tools[0].server_label"},
		{name: "mcp approval setting", body: `{"session":{"type":"realtime","tools":[{"type":"mcp","server_label":"x","require_approval":"sometimes"}]}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_value", param: "session.tools[0].require_approval"},
		{name: "tool_choice function needs a name", body: `{"session":{"type":"realtime","tool_choice":{"type":"function"}}}`,
			status: 400, typ: "invalid_request_error", code: "missing_required_parameter", param: "session.tool_choice.name"},
		{name: "tool_choice object type", body: `{"session":{"type":"realtime","tool_choice":{"type":"file_search"}}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_value", param: "session.tool_choice.type"},
		{name: "reasoning effort", body: `{"session":{"type":"realtime","reasoning":{"effort":"max"}}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_value", param: "session.reasoning.effort"},
		{name: "retention ratio required", body: `{"session":{"type":"realtime","truncation":{"type":"retention_ratio"}}}`,
			status: 400, typ: "invalid_request_error", code: "missing_required_parameter", param: "session.truncation.retention_ratio"},
		{name: "retention ratio at most 1", body: `{"session":{"type":"realtime","truncation":{"type":"retention_ratio","retention_ratio":1.5}}}`,
			status: 400, typ: "invalid_request_error", code: "decimal_above_max_value", param: "session.truncation.retention_ratio"},
		{name: "prompt needs its id", body: `{"session":{"type":"realtime","prompt":{"version":"1"}}}`,
			status: 400, typ: "invalid_request_error", code: "missing_required_parameter", param: "session.prompt.id"},
		{name: "prompt variable type", body: `{"session":{"type":"realtime","prompt":{"id":"p","variables":{"x":{"type":"input_audio"}}}}}`,
			status: 400, typ: "invalid_request_error", code: "invalid_value", param: "session.prompt.variables.x.type"},
		{name: "transcription session has no model", body: `{"session":{"type":"transcription","model":"gpt-realtime"}}`,
			status: 400, typ: "invalid_request_error", code: "unknown_parameter", param: "session.model"},
		{name: "transcription session has no output audio", body: `{"session":{"type":"transcription","audio":{"output":{}}}}`,
			status: 400, typ: "invalid_request_error", code: "unknown_parameter", param: "session.audio.output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			res := e.do(t, http.MethodPost, path, tt.hdr, tt.body)
			got := wantError(t, res, tt.status, tt.typ, tt.code, tt.param)
			if msg := got["message"].(string); !strings.Contains(msg, tt.msg) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.msg)
			}
			if strings.Contains(string(res.body), testKey) {
				t.Error("response echoes the API key")
			}
			if n := len(e.sim.Minted()); n != 0 {
				t.Errorf("a rejected request minted %d secrets", n)
			}
			if e.sim.Requests() != 1 || e.sim.Hits(path) != 1 {
				t.Errorf("Requests() = %d, Hits = %d, want 1", e.sim.Requests(), e.sim.Hits(path))
			}
		})
	}
}

func TestClientSecretsMintsDocumentedShape(t *testing.T) {
	tests := []struct {
		name         string
		ct           string
		body         string
		ttl          int64
		sessionType  string
		object       string
		model        any
		instructions any
		voice        any
	}{
		{name: "empty body gets the defaults", body: "", ttl: 600,
			sessionType: "realtime", object: "realtime.session", model: "gpt-realtime", instructions: DefaultInstructions, voice: "alloy"},
		{name: "empty object gets the defaults", body: "{}", ttl: 600,
			sessionType: "realtime", object: "realtime.session", model: "gpt-realtime", instructions: DefaultInstructions, voice: "alloy"},
		{name: "null session gets the defaults", body: `{"session":null}`, ttl: 600,
			sessionType: "realtime", object: "realtime.session", model: "gpt-realtime", instructions: DefaultInstructions, voice: "alloy"},
		{name: "SPEC example echoes model and instructions",
			body: `{"expires_after":{"anchor":"created_at","seconds":600},"session":{"type":"realtime","model":"gpt-realtime","instructions":"You are a friendly assistant."}}`,
			ttl:  600, sessionType: "realtime", object: "realtime.session", model: "gpt-realtime", instructions: "You are a friendly assistant.", voice: "alloy"},
		{name: "guide's one-minute TTL and a voice", ct: "application/json; charset=utf-8",
			body: `{"expires_after":{"seconds":60},"session":{"type":"realtime","model":"gpt-realtime-mini","audio":{"output":{"voice":"marin"}}}}`,
			ttl:  60, sessionType: "realtime", object: "realtime.session", model: "gpt-realtime-mini", instructions: DefaultInstructions, voice: "marin"},
		{name: "minimum TTL", body: `{"expires_after":{"seconds":10}}`, ttl: 10,
			sessionType: "realtime", object: "realtime.session", model: "gpt-realtime", instructions: DefaultInstructions, voice: "alloy"},
		{name: "maximum TTL", body: `{"expires_after":{"seconds":7200}}`, ttl: 7200,
			sessionType: "realtime", object: "realtime.session", model: "gpt-realtime", instructions: DefaultInstructions, voice: "alloy"},
		{name: "custom voice object is echoed",
			body: `{"session":{"type":"realtime","audio":{"output":{"voice":{"id":"voice_1234"}}}}}`, ttl: 600,
			sessionType: "realtime", object: "realtime.session", model: "gpt-realtime", instructions: DefaultInstructions, voice: map[string]any{"id": "voice_1234"}},
		{name: "transcription session",
			body: `{"session":{"type":"transcription","audio":{"input":{"transcription":{"model":"gpt-4o-transcribe"}}}}}`, ttl: 600,
			sessionType: "transcription", object: "realtime.transcription_session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			hdr := map[string]string{}
			if tt.ct != "" {
				hdr["Content-Type"] = tt.ct
			}
			res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", hdr, tt.body)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			assertOpenAIHeaders(t, res.header)
			m := res.json(t)
			if len(m) != 3 {
				t.Errorf("top-level keys %v, want value, expires_at, session", m)
			}
			value, _ := m["value"].(string)
			if !secretPattern.MatchString(value) {
				t.Errorf("value = %q", value)
			}
			if got, want := m["expires_at"], float64(e.clock.Now().Unix()+tt.ttl); got != want {
				t.Errorf("expires_at = %v, want %v", got, want)
			}
			s, _ := m["session"].(map[string]any)
			if s["type"] != tt.sessionType || s["object"] != tt.object {
				t.Errorf("session type/object = %v/%v", s["type"], s["object"])
			}
			if id, _ := s["id"].(string); !sessionPattern.MatchString(id) {
				t.Errorf("session.id = %q", id)
			}
			audio, _ := s["audio"].(map[string]any)
			in, _ := audio["input"].(map[string]any)
			if f, _ := in["format"].(map[string]any); f["type"] != "audio/pcm" || f["rate"] != float64(24000) {
				t.Errorf("audio.input.format = %v", in["format"])
			}
			if td, _ := in["turn_detection"].(map[string]any); td["type"] != "server_vad" || td["threshold"] != 0.5 {
				t.Errorf("audio.input.turn_detection = %v", in["turn_detection"])
			}
			if tt.sessionType == "realtime" {
				if s["model"] != tt.model || s["instructions"] != tt.instructions {
					t.Errorf("model/instructions = %v/%v", s["model"], s["instructions"])
				}
				out, _ := audio["output"].(map[string]any)
				if !equalJSON(out["voice"], tt.voice) || out["speed"] != 1.0 {
					t.Errorf("voice/speed = %v/%v, want %v/1", out["voice"], out["speed"], tt.voice)
				}
				if s["tool_choice"] != "auto" || s["max_output_tokens"] != "inf" || s["truncation"] != "auto" {
					t.Errorf("defaults: %v %v %v", s["tool_choice"], s["max_output_tokens"], s["truncation"])
				}
				if om, _ := s["output_modalities"].([]any); len(om) != 1 || om[0] != "audio" {
					t.Errorf("output_modalities = %v", s["output_modalities"])
				}
			} else if _, has := s["model"]; has {
				t.Error("a transcription session has no model")
			}

			if !e.sim.ValidSecret(value) {
				t.Error("ValidSecret(minted) = false")
			}
			if got := e.sim.Minted(); len(got) != 1 || got[0] != value {
				t.Errorf("Minted() = %v", got)
			}
			info, ok := e.sim.Secret(value)
			if !ok || info.ExpiresAt.Unix() != e.clock.Now().Unix()+tt.ttl || !strings.Contains(string(info.Session), s["id"].(string)) {
				t.Errorf("Secret() = %+v, %v", info, ok)
			}
		})
	}
}

func TestSecretsAreUniqueAndExpireByInjectedClock(t *testing.T) {
	e := newEnv(t)
	first := e.mint(t, `{"expires_after":{"seconds":10}}`)["value"].(string)
	second := e.mint(t, `{"expires_after":{"seconds":20}}`)["value"].(string)
	if first == second {
		t.Fatal("two mints returned the same secret")
	}
	if e.sim.ValidSecret("ek_" + strings.Repeat("0", 32)) {
		t.Error("a secret the simulator never issued is valid")
	}
	e.clock.Advance(9 * time.Second)
	if !e.sim.ValidSecret(first) || !e.sim.ValidSecret(second) {
		t.Fatal("secrets invalid before expiry")
	}
	e.clock.Advance(time.Second)
	if e.sim.ValidSecret(first) {
		t.Error("secret valid at its expires_at")
	}
	if !e.sim.ValidSecret(second) {
		t.Error("longer secret expired early")
	}
	e.clock.Advance(10 * time.Second)
	if e.sim.ValidSecret(second) {
		t.Error("secret valid after expiry")
	}
	if got := e.sim.Minted(); len(got) != 2 || got[0] != first || got[1] != second {
		t.Errorf("Minted() = %v, want both in order even after expiry", got)
	}
}

func TestSetKeysRotatesAcceptedKeys(t *testing.T) {
	e := newEnv(t)
	const next = "sk-next-abcdefghijklmnopqrstuvwxyz0123456789"
	e.mint(t, "{}")
	e.sim.SetKeys(next)
	res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, "{}")
	wantError(t, res, 401, "invalid_request_error", "invalid_api_key", "")
	res = e.do(t, http.MethodPost, "/v1/realtime/client_secrets", map[string]string{"Authorization": "Bearer " + next}, "{}")
	if res.status != http.StatusOK {
		t.Fatalf("new key: status %d: %s", res.status, res.body)
	}
	e.sim.SetKeys(testKey, next)
	for _, k := range []string{testKey, next} {
		res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets", map[string]string{"Authorization": "Bearer " + k}, "{}")
		if res.status != http.StatusOK {
			t.Errorf("both keys accepted during overlap: status %d", res.status)
		}
	}
	e.sim.SetKeys()
	res = e.do(t, http.MethodPost, "/v1/realtime/client_secrets", nil, "{}")
	wantError(t, res, 401, "invalid_request_error", "invalid_api_key", "")
}

func TestLastRequestRecordsHeadersBodyAndSafetyIdentifier(t *testing.T) {
	e := newEnv(t)
	body := `{"expires_after":{"seconds":60}}`
	value := e.mint(t, body)["value"].(string)
	_ = value
	res := e.do(t, http.MethodPost, "/v1/realtime/client_secrets",
		map[string]string{"OpenAI-Safety-Identifier": "user-hash-42"}, body)
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	last := e.sim.LastRequest()
	if last.Method != http.MethodPost || last.Path != "/v1/realtime/client_secrets" || string(last.Body) != body {
		t.Errorf("LastRequest() = %s %s %q", last.Method, last.Path, last.Body)
	}
	if last.SafetyIdentifier != "user-hash-42" || last.Header.Get("OpenAI-Safety-Identifier") != "user-hash-42" {
		t.Errorf("safety identifier = %q / %q", last.SafetyIdentifier, last.Header.Get("OpenAI-Safety-Identifier"))
	}
	if last.Header.Get("Authorization") != "Bearer "+testKey {
		t.Error("Authorization header not recorded")
	}
	last.Header.Set("Authorization", "changed")
	if e.sim.LastRequest().Header.Get("Authorization") != "Bearer "+testKey {
		t.Error("LastRequest() shares its header map with the simulator")
	}
	minted := res.json(t)["value"].(string)
	if info, ok := e.sim.Secret(minted); !ok || info.SafetyIdentifier != "user-hash-42" {
		t.Errorf("secret not bound to the safety identifier: %+v", info)
	}
	if info, _ := e.sim.Secret(value); info.SafetyIdentifier != "" {
		t.Errorf("first secret has safety identifier %q", info.SafetyIdentifier)
	}
}

func TestMaskKeyMatchesOpenAIRendering(t *testing.T) {
	tests := []struct{ key, want string }{
		{"sk-PMafP" + strings.Repeat("x", 39) + "E873", "sk-PMafP" + strings.Repeat("*", 39) + "E873"},
		{"sk-proj-abcdefghij1234", "sk-proj-**********1234"},
		{"sk-abcdefghi", "************"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := maskKey(tt.key); got != tt.want {
			t.Errorf("maskKey(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func equalJSON(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok != bok {
		return false
	}
	if !aok {
		return a == b
	}
	if len(am) != len(bm) {
		return false
	}
	for k, v := range am {
		if !equalJSON(v, bm[k]) {
			return false
		}
	}
	return true
}
