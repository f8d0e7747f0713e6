package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
)

// check validates one JSON value (decoded with UseNumber) found at path.
type check func(path string, v any) *apiError

// field is one known member of a JSON object.
type field struct {
	name  string
	check check
}

// decodeObject parses body as exactly one JSON object; an empty body counts as {}.
func decodeObject(body []byte) (map[string]any, *apiError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errInvalidJSON()
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errInvalidJSON()
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errInvalidJSON()
	}
	return m, nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// checkObject validates that v is an object with only the given fields (in OpenAI's
// style: unknown members first, then missing required ones, then each value).
func checkObject(path string, v any, fields []field, required ...string) (map[string]any, *apiError) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errInvalidType(path, "an object", v)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.ContainsFunc(fields, func(f field) bool { return f.name == k }) {
			return nil, errUnknownParam(join(path, k))
		}
	}
	for _, r := range required {
		if _, ok := m[r]; !ok {
			return nil, errMissingParam(join(path, r))
		}
	}
	for _, f := range fields {
		if val, ok := m[f.name]; ok && f.check != nil {
			if err := f.check(join(path, f.name), val); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func object(fields []field, required ...string) check {
	return func(path string, v any) *apiError {
		_, err := checkObject(path, v, fields, required...)
		return err
	}
}

func nullable(c check) check {
	return func(path string, v any) *apiError {
		if v == nil {
			return nil
		}
		return c(path, v)
	}
}

func anyValue(string, any) *apiError { return nil }

// jsonObject accepts any JSON object (a JSON Schema, free-form metadata).
func jsonObject(path string, v any) *apiError {
	if _, ok := v.(map[string]any); !ok {
		return errInvalidType(path, "an object", v)
	}
	return nil
}

// objectOf accepts an object whose every member value is checked by c.
func objectOf(c check) check {
	return func(path string, v any) *apiError {
		m, ok := v.(map[string]any)
		if !ok {
			return errInvalidType(path, "an object", v)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := c(join(path, k), m[k]); err != nil {
				return err
			}
		}
		return nil
	}
}

// requiring adds, per variant of a union on "type", the members that
// variant requires.
func (c check) requiring(required map[string][]string) check {
	return func(path string, v any) *apiError {
		if err := c(path, v); err != nil {
			return err
		}
		m := v.(map[string]any)
		t, _ := m["type"].(string)
		for _, r := range required[t] {
			if _, ok := m[r]; !ok {
				return errMissingParam(join(path, r))
			}
		}
		return nil
	}
}

func str(nonEmpty bool) check {
	return func(path string, v any) *apiError {
		s, ok := v.(string)
		if !ok {
			return errInvalidType(path, "a string", v)
		}
		if nonEmpty && s == "" {
			return errEmptyString(path)
		}
		return nil
	}
}

func enum(values ...string) check {
	return func(path string, v any) *apiError {
		s, ok := v.(string)
		if !ok {
			return errInvalidType(path, "a string", v)
		}
		if !slices.Contains(values, s) {
			return errInvalidValue(path, s, values)
		}
		return nil
	}
}

func boolean(path string, v any) *apiError {
	if _, ok := v.(bool); !ok {
		return errInvalidType(path, "a boolean", v)
	}
	return nil
}

func intRange(lo, hi int64) check {
	return func(path string, v any) *apiError {
		n, ok := v.(json.Number)
		if !ok {
			return errInvalidType(path, "an integer", v)
		}
		i, err := n.Int64()
		if err != nil {
			return errInvalidType(path, "an integer", v)
		}
		if i < lo {
			return errRange(path, "integer", true, strconv.FormatInt(lo, 10), n.String())
		}
		if i > hi {
			return errRange(path, "integer", false, strconv.FormatInt(hi, 10), n.String())
		}
		return nil
	}
}

func numRange(lo, hi float64) check {
	return func(path string, v any) *apiError {
		n, ok := v.(json.Number)
		if !ok {
			return errInvalidType(path, "a number", v)
		}
		f, err := n.Float64()
		if err != nil {
			return errInvalidType(path, "a number", v)
		}
		fmtF := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
		if f < lo {
			return errRange(path, "decimal", true, fmtF(lo), n.String())
		}
		if f > hi {
			return errRange(path, "decimal", false, fmtF(hi), n.String())
		}
		return nil
	}
}

func array(item check) check {
	return func(path string, v any) *apiError {
		a, ok := v.([]any)
		if !ok {
			return errInvalidType(path, "an array", v)
		}
		for i, x := range a {
			if err := item(path+"["+strconv.Itoa(i)+"]", x); err != nil {
				return err
			}
		}
		return nil
	}
}

// stringOr accepts a string checked by s, or any other JSON type checked by other.
func stringOr(s, other check) check {
	return func(path string, v any) *apiError {
		if _, ok := v.(string); ok {
			return s(path, v)
		}
		return other(path, v)
	}
}

// voices is the documented list of built-in Realtime voices (SPEC VoiceIdsShared).
var voices = []string{"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"}

// Voices returns the documented built-in Realtime voices the simulator accepts
// (SPEC VoiceIdsShared); custom voices {"id":"voice_..."} are accepted too.
func Voices() []string { return slices.Clone(voices) }

var (
	audioFormat = object([]field{
		{"type", enum("audio/pcm", "audio/pcmu", "audio/pcma")},
		{"rate", intRange(24000, 24000)},
	})
	noiseReduction = nullable(object([]field{
		{"type", enum("near_field", "far_field")},
		{"strength", numRange(0, 1)},
	}))
	transcription = nullable(object([]field{
		{"model", str(true)},
		{"language", nullable(str(false))},
		{"languages", array(str(true))},
		{"prompt", nullable(str(false))},
		{"keywords", array(str(false))},
		{"delay", str(true)},
	}))
	turnDetection = nullable(func(path string, v any) *apiError {
		m, ok := v.(map[string]any)
		if !ok {
			return errInvalidType(path, "an object", v)
		}
		common := []field{
			{"type", enum("server_vad", "semantic_vad")},
			{"create_response", boolean},
			{"interrupt_response", boolean},
		}
		if m["type"] == "semantic_vad" {
			common = append(common, field{"eagerness", enum("low", "medium", "high", "auto")})
		} else {
			common = append(common,
				field{"threshold", numRange(0, 1)},
				field{"prefix_padding_ms", intRange(0, 1<<31-1)},
				field{"silence_duration_ms", intRange(0, 1<<31-1)},
				field{"idle_timeout_ms", nullable(intRange(5000, 30000))},
			)
		}
		_, err := checkObject(path, v, common, "type")
		return err
	})
	include = nullable(array(enum("item.input_audio_transcription.logprobs")))

	// Realtime tools (openai-go RealtimeToolsConfigUnionParam): a function
	// (its type may be left out) or a remote MCP server.
	mcpToolFilter = object([]field{{"read_only", boolean}, {"tool_names", array(str(true))}})
	functionTool  = []field{{"type", enum("function")}, {"name", str(true)}, {"description", str(false)}, {"parameters", jsonObject}}
	mcpTool       = []field{{"type", nil}, {"server_label", str(true)}, {"server_url", str(true)},
		{"connector_id", enum("connector_dropbox", "connector_gmail", "connector_googlecalendar", "connector_googledrive",
			"connector_microsoftteams", "connector_outlookcalendar", "connector_outlookemail", "connector_sharepoint")},
		{"tunnel_id", str(true)}, {"authorization", str(false)}, {"headers", objectOf(str(false))},
		{"server_description", str(false)}, {"defer_loading", boolean},
		{"allowed_callers", array(enum("direct", "programmatic"))},
		{"allowed_tools", func(path string, v any) *apiError {
			if _, ok := v.([]any); ok {
				return array(str(true))(path, v)
			}
			return mcpToolFilter(path, v)
		}},
		{"require_approval", stringOr(enum("always", "never"), object([]field{{"always", mcpToolFilter}, {"never", mcpToolFilter}}))},
	}
	realtimeTool = func(path string, v any) *apiError {
		if m, ok := v.(map[string]any); ok {
			if _, typed := m["type"]; !typed {
				return object(functionTool)(path, v)
			}
		}
		return union(map[string][]field{"function": functionTool, "mcp": mcpTool}, "function", "mcp").
			requiring(map[string][]string{"mcp": {"server_label"}})(path, v)
	}

	audioInput = object([]field{
		{"format", audioFormat},
		{"transcription", transcription},
		{"noise_reduction", noiseReduction},
		{"turn_detection", turnDetection},
	})
	voice = stringOr(enum(voices...), object([]field{{"id", str(true)}}, "id"))

	realtimeFields = []field{
		{"type", enum("realtime", "transcription")},
		{"model", str(true)},
		{"instructions", str(false)},
		{"output_modalities", func(path string, v any) *apiError {
			if err := array(enum("audio", "text"))(path, v); err != nil {
				return err
			}
			if len(v.([]any)) != 1 {
				return errBadRequest(path, codeInvalidValue, "Invalid '"+path+
					"': expected exactly one of 'audio' or 'text'; it is not possible to request both.")
			}
			return nil
		}},
		{"audio", object([]field{
			{"input", audioInput},
			{"output", object([]field{
				{"format", audioFormat},
				{"voice", voice},
				{"speed", numRange(0.25, 1.5)},
			})},
		})},
		{"include", include},
		{"tracing", nullable(stringOr(enum("auto"), object([]field{
			{"workflow_name", str(false)},
			{"group_id", str(false)},
			{"metadata", anyValue},
		})))},
		{"tools", array(realtimeTool)},
		{"tool_choice", stringOr(enum("auto", "none", "required"), union(map[string][]field{
			"function": {{"type", nil}, {"name", str(true)}},
			"mcp":      {{"type", nil}, {"server_label", str(true)}, {"name", str(true)}},
		}, "function", "mcp").requiring(map[string][]string{"function": {"name"}, "mcp": {"server_label"}}))},
		{"parallel_tool_calls", boolean},
		{"reasoning", nullable(object([]field{{"effort", enum("minimal", "low", "medium", "high", "xhigh")}}))},
		{"max_output_tokens", stringOr(enum("inf"), intRange(1, 4096))},
		{"truncation", stringOr(enum("auto", "disabled"), object([]field{
			{"type", enum("retention_ratio")},
			{"retention_ratio", numRange(0, 1)},
			{"token_limits", object([]field{{"post_instructions", intRange(0, 1<<31-1)}})},
		}, "type", "retention_ratio"))},
		{"prompt", nullable(object([]field{
			{"id", str(true)},
			{"version", nullable(str(false))},
			{"variables", objectOf(stringOr(str(false), union(map[string][]field{
				"input_text": {{"type", nil}, {"text", str(false)}, {"prompt_cache_breakpoint", anyValue}},
				"input_image": {{"type", nil}, {"detail", enum("low", "high", "auto", "original")}, {"file_id", nullable(str(false))},
					{"image_url", nullable(str(false))}, {"prompt_cache_breakpoint", anyValue}},
				"input_file": {{"type", nil}, {"file_id", nullable(str(false))}, {"file_data", str(false)}, {"file_url", str(false)},
					{"filename", str(false)}, {"detail", enum("auto", "low", "high")}, {"prompt_cache_breakpoint", anyValue}},
			}, "input_text", "input_image", "input_file")))},
		}, "id"))},
	}
	transcriptionFields = []field{
		{"type", enum("realtime", "transcription")},
		{"audio", object([]field{{"input", audioInput}})},
		{"include", include},
	}
	expiresAfter = object([]field{
		{"anchor", enum("created_at")},
		{"seconds", intRange(10, 7200)},
	})
)

// checkSession validates a GA session object (realtime or transcription) at path and
// returns it with its type.
func checkSession(path string, v any, allowed ...string) (map[string]any, string, *apiError) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, "", errInvalidType(path, "an object", v)
	}
	t, present := m["type"]
	if !present {
		return nil, "", errMissingParam(join(path, "type"))
	}
	if err := enum(allowed...)(join(path, "type"), t); err != nil {
		return nil, "", err
	}
	fields := realtimeFields
	if t == "transcription" {
		fields = transcriptionFields
	}
	if _, err := checkObject(path, m, fields, "type"); err != nil {
		return nil, "", err
	}
	return m, t.(string), nil
}
