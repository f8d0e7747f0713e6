package simulator

import (
	"encoding/json"
	"maps"
	"mime"
	"net/http"
	"strings"
	"time"
)

const (
	ephemeralPrefix = "ek_"

	// DefaultModel is the model a realtime session gets when the request names none.
	DefaultModel = "gpt-realtime"
	// DefaultVoice is the voice a realtime session gets when the request names none.
	DefaultVoice = "alloy"
	// DefaultExpirySeconds is the client-secret lifetime when expires_after.seconds is absent.
	DefaultExpirySeconds = 600
	// DefaultInstructions stands in for the server's default system instructions.
	DefaultInstructions = "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI."
)

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authStandard accepts only a current standard key: a Bearer token, or in
// Azure mode the api-key header.
func (s *Simulator) authStandard(r *http.Request) *apiError {
	if s.azure {
		return s.azureStandardKey(r)
	}
	key, ok := bearer(r)
	if !ok {
		return errMissingKey()
	}
	s.mu.Lock()
	_, valid := s.keys[key]
	s.mu.Unlock()
	if !valid {
		return errIncorrectKey(key)
	}
	return nil
}

// authAny accepts a standard key (nil info) or an unexpired ephemeral secret. In
// Azure mode only a Bearer ek_ is accepted (a recorded test saw /calls refuse
// api-key with 401).
func (s *Simulator) authAny(r *http.Request) (*SecretInfo, *apiError) {
	key, ok := bearer(r)
	if s.azure && (!ok || !strings.HasPrefix(key, ephemeralPrefix)) {
		return nil, errAzureUnauthorized()
	}
	if !ok {
		return nil, errMissingKey()
	}
	if strings.HasPrefix(key, ephemeralPrefix) {
		info, valid := s.Secret(key)
		if !valid {
			return nil, errIncorrectKey(key)
		}
		return &info, nil
	}
	return nil, s.authStandard(r)
}

// mediaType returns the lower-cased media type of the request's Content-Type.
func mediaType(r *http.Request) (string, map[string]string) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(ct)), nil
	}
	return mt, params
}

// jsonRequest authenticates a standard-key JSON request and decodes its body
// as one object (an empty body is {}).
func (s *Simulator) jsonRequest(r *http.Request) (map[string]any, *apiError) {
	if err := s.authStandard(r); err != nil {
		return nil, err
	}
	if mt, _ := mediaType(r); mt != "application/json" {
		return nil, errContentType(r.Header.Get("Content-Type"), "application/json")
	}
	body, _ := readAll(r)
	return decodeObject(body)
}

// handleClientSecrets serves POST /v1/realtime/client_secrets (GA mint).
func (s *Simulator) handleClientSecrets(w http.ResponseWriter, r *http.Request) {
	req, aerr := s.jsonRequest(r)
	if aerr == nil {
		_, aerr = checkObject("", req, []field{{"expires_after", nullable(expiresAfter)}, {"session", nil}})
	}
	var sess map[string]any
	kind := "realtime"
	if aerr == nil {
		if v, ok := req["session"]; ok && v != nil {
			sess, kind, aerr = checkSession("session", v, "realtime", "transcription")
		}
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}

	seconds := int64(DefaultExpirySeconds)
	if ea, ok := req["expires_after"].(map[string]any); ok {
		if n, ok := ea["seconds"].(json.Number); ok {
			seconds, _ = n.Int64()
		}
	}
	var effective map[string]any
	if kind == "transcription" {
		effective = transcriptionSession(sess)
	} else {
		effective = realtimeSession(sess)
		if aerr := s.checkDeployment("session.model", effective["model"]); aerr != nil {
			writeError(w, aerr)
			return
		}
	}
	sessJSON, err := json.Marshal(effective)
	if err != nil {
		writeError(w, errServer())
		return
	}

	now := s.now()
	info := &SecretInfo{
		Value:            ephemeralPrefix + randomHex(16),
		CreatedAt:        now,
		ExpiresAt:        now.Add(time.Duration(seconds) * time.Second),
		Session:          sessJSON,
		SafetyIdentifier: r.Header.Get("OpenAI-Safety-Identifier"),
	}
	s.mu.Lock()
	s.minted = append(s.minted, info.Value)
	s.secrets[info.Value] = info
	s.pruneSecretsLocked(now)
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, struct {
		Value     string          `json:"value"`
		ExpiresAt int64           `json:"expires_at"`
		Session   json.RawMessage `json:"session"`
	}{info.Value, info.ExpiresAt.Unix(), sessJSON})
}

// pruneSecretsLocked drops expired secrets once the map has doubled since the last
// sweep, so a long-running simulator does not grow without bound. Minted keeps values.
func (s *Simulator) pruneSecretsLocked(now time.Time) {
	if len(s.secrets) < s.pruneAt {
		return
	}
	maps.DeleteFunc(s.secrets, func(_ string, v *SecretInfo) bool { return !now.Before(v.ExpiresAt) })
	s.pruneAt = max(1024, 2*len(s.secrets))
}

// realtimeSession returns the effective realtime session for request fields req
// (nil for none): the request's values with the documented defaults filled in.
func realtimeSession(req map[string]any) map[string]any {
	get := func(m map[string]any, k string, def any) any {
		if v, ok := m[k]; ok {
			return v
		}
		return def
	}
	sub := func(m map[string]any, k string) map[string]any {
		v, _ := m[k].(map[string]any)
		return v
	}
	audio := sub(req, "audio")
	in, out := sub(audio, "input"), sub(audio, "output")
	model := get(req, "model", DefaultModel)
	instructions := get(req, "instructions", DefaultInstructions)
	sess := map[string]any{
		"type":              "realtime",
		"object":            "realtime.session",
		"id":                "sess_" + randomBase62(21),
		"model":             model,
		"output_modalities": get(req, "output_modalities", []any{"audio"}),
		"instructions":      instructions,
		"tools":             get(req, "tools", []any{}),
		"tool_choice":       get(req, "tool_choice", "auto"),
		"max_output_tokens": get(req, "max_output_tokens", "inf"),
		"tracing":           get(req, "tracing", nil),
		"truncation":        get(req, "truncation", "auto"),
		"prompt":            get(req, "prompt", nil),
		"expires_at":        0,
		"audio": map[string]any{
			"input": map[string]any{
				"format":          get(in, "format", pcm24k()),
				"transcription":   get(in, "transcription", nil),
				"noise_reduction": get(in, "noise_reduction", nil),
				"turn_detection":  turnDetectionWithDefaults(in, true),
			},
			"output": map[string]any{
				"format": get(out, "format", pcm24k()),
				"voice":  get(out, "voice", DefaultVoice),
				"speed":  get(out, "speed", 1.0),
			},
		},
		"include": get(req, "include", nil),
	}
	for _, k := range []string{"reasoning", "parallel_tool_calls"} {
		if v, ok := req[k]; ok {
			sess[k] = v
		}
	}
	return sess
}

// transcriptionSession returns the effective transcription session for req.
func transcriptionSession(req map[string]any) map[string]any {
	audio, _ := req["audio"].(map[string]any)
	in, _ := audio["input"].(map[string]any)
	get := func(k string, def any) any {
		if v, ok := in[k]; ok {
			return v
		}
		return def
	}
	inc, ok := req["include"]
	if !ok {
		inc = nil
	}
	return map[string]any{
		"type":       "transcription",
		"object":     "realtime.transcription_session",
		"id":         "sess_" + randomBase62(21),
		"expires_at": 0,
		"audio": map[string]any{"input": map[string]any{
			"format":          get("format", pcm24k()),
			"transcription":   get("transcription", nil),
			"noise_reduction": get("noise_reduction", nil),
			"turn_detection":  turnDetectionWithDefaults(in, false),
		}},
		"include": inc,
	}
}

func pcm24k() map[string]any { return map[string]any{"type": "audio/pcm", "rate": 24000} }

// turnDetectionWithDefaults fills the documented VAD defaults into the request's
// turn_detection; an explicit null stays null (turn detection off).
func turnDetectionWithDefaults(in map[string]any, realtime bool) any {
	given, present := in["turn_detection"]
	if present && given == nil {
		return nil
	}
	td, _ := given.(map[string]any)
	var def map[string]any
	switch {
	case td != nil && td["type"] == "semantic_vad":
		def = map[string]any{"type": "semantic_vad", "eagerness": "auto",
			"create_response": true, "interrupt_response": true}
	case realtime:
		def = map[string]any{"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
			"silence_duration_ms": 200, "idle_timeout_ms": nil, "create_response": true,
			"interrupt_response": true}
	default:
		def = map[string]any{"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
			"silence_duration_ms": 200}
	}
	maps.Copy(def, td)
	return def
}
