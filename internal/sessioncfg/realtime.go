package sessioncfg

import (
	"regexp"
	"slices"
)

// The Realtime session's vocabulary, from openai-go v3.99.0 (package
// realtime: RealtimeSessionCreateRequestParam and the types under it) and
// OpenAI's API reference.
var (
	// RealtimeVoices are the built-in Realtime voices
	// (RealtimeAudioConfigOutputVoiceString2); {"id": "voice_…"} names a custom one.
	RealtimeVoices = []string{"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"}

	// TranscriptionModels are the input transcription models (AudioTranscriptionModel).
	TranscriptionModels = []string{"whisper-1", "gpt-transcribe", "gpt-live-transcribe", "gpt-4o-mini-transcribe",
		"gpt-4o-mini-transcribe-2025-12-15", "gpt-4o-transcribe", "gpt-4o-transcribe-diarize", "gpt-realtime-whisper"}

	// deprecatedTranscription are the transcription models the SDK marks
	// "Announced shutdown date: 2027-02-26".
	deprecatedTranscription = []string{"whisper-1", "gpt-4o-mini-transcribe", "gpt-4o-mini-transcribe-2025-12-15",
		"gpt-4o-transcribe", "gpt-4o-transcribe-diarize"}

	mcpConnectors = []string{"connector_dropbox", "connector_gmail", "connector_googlecalendar", "connector_googledrive",
		"connector_microsoftteams", "connector_outlookcalendar", "connector_outlookemail", "connector_sharepoint"}
)

// Bounds rtgate sets where OpenAI documents none; each is far above any
// sensible value and exists so a typo (an extra zero) fails at start-up.
const (
	// maxInstructionsBytes bounds instructions in the file (OpenAI documents
	// 16,384 tokens for Live; about four bytes a token).
	maxInstructionsBytes = 65536
	// maxTools bounds the tools of one session.
	maxTools = 128
	// maxVADMillis bounds prefix_padding_ms and silence_duration_ms.
	maxVADMillis = 10000
)

// toolName is OpenAI's function-name rule (letters, digits, _ and -, at most 64).
var toolName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

var (
	audioFormat = union(map[string][]member{
		"audio/pcm":  {opt("rate", integer(24000, 24000))},
		"audio/pcmu": {},
		"audio/pcma": {},
	})

	transcription = nullable(object(
		opt("model", enum(TranscriptionModels...)),
		opt("language", str(true, 16)),
		opt("languages", distinct(str(true, 16), 0)),
		opt("prompt", str(false, 0)),
		opt("keywords", array(str(true, 0), 0)),
		opt("delay", enum("minimal", "low", "medium", "high", "xhigh")),
	))

	noiseReduction = nullable(object(
		req("type", enum("near_field", "far_field")),
		opt("strength", number(0, 1)),
	))

	turnDetection = nullable(union(map[string][]member{
		"server_vad": {
			opt("threshold", number(0, 1)),
			opt("prefix_padding_ms", integer(0, maxVADMillis)),
			opt("silence_duration_ms", integer(0, maxVADMillis)),
			opt("idle_timeout_ms", nullable(integer(5000, 30000))),
			opt("create_response", boolean),
			opt("interrupt_response", boolean),
		},
		"semantic_vad": {
			opt("eagerness", enum("low", "medium", "high", "auto")),
			opt("create_response", boolean),
			opt("interrupt_response", boolean),
		},
	}))

	mcpFilter = object(opt("read_only", boolean), opt("tool_names", distinct(str(true, 0), 0)))

	realtimeTool = union(map[string][]member{
		"function": {
			req("name", matching(toolName, "1-64 letters, digits, _ or -")),
			opt("description", str(false, 0)),
			opt("parameters", anyObject),
		},
		"mcp": {
			req("server_label", matching(toolName, "1-64 letters, digits, _ or -")),
			opt("server_url", matching(regexp.MustCompile(`^https?://[^\s]+$`), "an http(s) URL")),
			opt("connector_id", enum(mcpConnectors...)),
			opt("tunnel_id", str(true, 0)),
			opt("server_description", str(false, 0)),
			opt("defer_loading", boolean),
			opt("allowed_callers", distinct(enum("direct", "programmatic"), 0)),
			opt("allowed_tools", func(c *checker, path string, v any) {
				if _, ok := v.([]any); ok {
					distinct(str(true, 0), 0)(c, path, v)
					return
				}
				mcpFilter(c, path, v)
			}),
			opt("require_approval", stringOr(enum("always", "never"),
				object(opt("always", mcpFilter), opt("never", mcpFilter)))),
			refused("authorization", "is refused: OpenAI echoes the session to the browser (session.created, and the mint response in token mode), so a credential here could reach it; give the MCP server its own access control"),
			refused("headers", "is refused: OpenAI echoes the session to the browser (session.created, and the mint response in token mode), so a credential here could reach it; give the MCP server its own access control"),
		},
	})

	realtimeToolChoice = stringOr(enum("auto", "none", "required"), union(map[string][]member{
		"function": {req("name", matching(toolName, "1-64 letters, digits, _ or -"))},
		"mcp":      {req("server_label", str(true, 0)), opt("name", str(true, 0))},
	}))

	promptVariable = stringOr(str(false, 0), union(map[string][]member{
		"input_text": {req("text", str(false, 0)), opt("prompt_cache_breakpoint", cacheBreakpoint)},
		"input_image": {req("detail", enum("low", "high", "auto", "original")), opt("file_id", str(true, 0)),
			opt("image_url", str(true, 0)), opt("prompt_cache_breakpoint", cacheBreakpoint)},
		"input_file": {opt("file_id", str(true, 0)), opt("file_data", str(true, 0)), opt("file_url", str(true, 0)),
			opt("filename", str(true, 0)), opt("detail", enum("auto", "low", "high")), opt("prompt_cache_breakpoint", cacheBreakpoint)},
	}))

	cacheBreakpoint = object(opt("mode", enum("explicit")), opt("ttl", enum("30m", "12h")))

	prompt = nullable(object(
		req("id", str(true, 0)),
		opt("version", str(true, 0)),
		opt("variables", stringMap(promptVariable)),
	))

	truncation = stringOr(enum("auto", "disabled"), union(map[string][]member{
		"retention_ratio": {
			req("retention_ratio", number(0, 1)),
			opt("token_limits", object(opt("post_instructions", integer(1, 1<<31-1)))),
		},
	}))

	outputModalities = func(c *checker, path string, v any) {
		array(enum("audio", "text"), 0)(c, path, v)
		if a, ok := v.([]any); ok && len(a) != 1 {
			c.fail(path, `must hold exactly one of "audio" or "text" (OpenAI cannot answer in both)`)
		}
	}
)

// realtimeMembers is the Realtime part of the file: a
// RealtimeSessionCreateRequest whose model and voice come from the
// environment, and whose instructions come from one place only.
func realtimeMembers(env Base) []member {
	instructions := opt("instructions", str(false, maxInstructionsBytes))
	if env.Instructions.Value != "" {
		instructions = refused("instructions", "is already set by "+env.Instructions.Var+"; set instructions in one place")
	}
	return []member{
		opt("type", enum("realtime")),
		refused("model", "is set by "+env.Model.Var+" (clients choose among the allowed models); remove it from the file"),
		instructions,
		opt("output_modalities", outputModalities),
		opt("audio", object(
			opt("input", object(
				opt("format", audioFormat),
				opt("transcription", transcription),
				opt("noise_reduction", noiseReduction),
				opt("turn_detection", turnDetection),
			)),
			opt("output", object(
				opt("format", audioFormat),
				refused("voice", "is set by "+env.Voice.Var+" (clients choose among the allowed voices); remove it from the file"),
				opt("speed", number(0.25, 1.5)),
			)),
		)),
		opt("include", nullable(distinct(enum("item.input_audio_transcription.logprobs"), 0))),
		opt("tracing", nullable(stringOr(enum("auto"), object(
			opt("workflow_name", str(false, 0)),
			opt("group_id", str(false, 0)),
			opt("metadata", anyObject),
		)))),
		opt("tools", array(realtimeTool, maxTools)),
		opt("tool_choice", realtimeToolChoice),
		opt("parallel_tool_calls", boolean),
		opt("reasoning", object(opt("effort", enum("minimal", "low", "medium", "high", "xhigh")))),
		opt("max_output_tokens", stringOr(enum("inf"), integer(1, 4096))),
		opt("truncation", truncation),
		opt("prompt", prompt),
	}
}

// checkRealtimeRefs checks what the schema cannot: names that must be unique
// or must refer to a tool, and transcription options that only some models
// take. It runs on a part that passed the schema.
func checkRealtimeRefs(c *checker, path string, s map[string]any) {
	tools, _ := s["tools"].([]any)
	functions, servers := map[string]bool{}, map[string]bool{}
	for i, t := range tools {
		tm, _ := t.(map[string]any)
		p := index(join(path, "tools"), i)
		switch tm["type"] {
		case "function":
			name, _ := tm["name"].(string)
			if functions[name] {
				c.fail(join(p, "name"), "repeats the function %q", name)
			}
			functions[name] = true
		case "mcp":
			label, _ := tm["server_label"].(string)
			if servers[label] {
				c.fail(join(p, "server_label"), "repeats the server %q", label)
			}
			servers[label] = true
			n := 0
			for _, k := range []string{"server_url", "connector_id", "tunnel_id"} {
				if _, ok := tm[k]; ok {
					n++
				}
			}
			if n != 1 {
				c.fail(p, "must set exactly one of server_url, connector_id or tunnel_id")
			}
		}
	}
	switch tc := s["tool_choice"].(type) {
	case string:
		if tc == "required" && len(tools) == 0 {
			c.fail(join(path, "tool_choice"), `is "required" but there are no tools`)
		}
	case map[string]any:
		switch tc["type"] {
		case "function":
			if name, _ := tc["name"].(string); !functions[name] {
				c.fail(joinAll(path, "tool_choice", "name"), "names no function in tools: %q", name)
			}
		case "mcp":
			if label, _ := tc["server_label"].(string); !servers[label] {
				c.fail(joinAll(path, "tool_choice", "server_label"), "names no mcp server in tools: %q", label)
			}
		}
	}

	audio, _ := s["audio"].(map[string]any)
	in, _ := audio["input"].(map[string]any)
	tr, _ := in["transcription"].(map[string]any)
	if tr == nil {
		return
	}
	tp := joinAll(path, "audio", "input", "transcription")
	model, _ := tr["model"].(string)
	if slices.Contains(deprecatedTranscription, model) {
		c.warn(join(tp, "model"), "%s has an announced OpenAI shutdown date of 2027-02-26; consider gpt-transcribe or gpt-realtime-whisper", model)
	}
	// Per-model options (openai-go AudioTranscriptionParam).
	only := func(field string, models ...string) {
		if _, set := tr[field]; set && !slices.Contains(models, model) {
			c.fail(join(tp, field), "is supported only with model %s", quoteList(models))
		}
	}
	only("delay", "gpt-realtime-whisper")
	only("keywords", "gpt-transcribe", "gpt-live-transcribe")
	only("languages", "gpt-transcribe", "gpt-live-transcribe")
	if _, set := tr["prompt"]; set && model == "gpt-realtime-whisper" {
		c.fail(join(tp, "prompt"), "is not supported with gpt-realtime-whisper")
	}
}
