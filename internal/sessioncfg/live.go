package sessioncfg

import "maps"

// The GPT-Live session's vocabulary, from openai-go v3.99.0 (package live:
// MediaSessionConfigParam and the types under it) and OpenAI's model pages.
var (
	// LiveModels are the GPT-Live models (the SDK enum lists gpt-live-1; the
	// model page documents gpt-live-1.1).
	LiveModels = []string{"gpt-live-1", "gpt-live-1.1"}

	// LiveVoices are the built-in Live voices (live.BuiltInVoice).
	LiveVoices = []string{"alloy", "ash", "ballad", "beacon", "bossa", "cedar", "cinder", "coral", "delta",
		"echo", "gleam", "marin", "meridian", "quartz", "ripple", "sage", "shida", "shimmer", "stone",
		"tempo", "verse", "vesper", "willow"}

	// LiveClientEvents are the Live client event types (live.ClientEventUnionParam).
	LiveClientEvents = []string{"session.start", "session.update", "session.input_audio.append",
		"session.input_audio.mute", "session.input_audio.unmute", "session.output_audio.fixture.play",
		"session.instructions.append", "session.thinking.append", "session.commentary.append",
		"decision.create", "decision.item.create", "decision.item.delete", "response.item.create",
		"response.create", "session.close"}

	// LiveServerEvents are the Live server event types (live.ServerEventUnion).
	LiveServerEvents = []string{"session.started", "session.updated", "session.input_audio.muted",
		"session.input_audio.unmuted", "session.output_audio.fixture.playing",
		"session.output_audio.fixture.played", "session.instructions.appended", "session.thinking.appended",
		"session.commentary.appended", "session.input_audio.append", "session.output_audio.delta",
		"session.input_transcript.delta", "session.output_transcript.delta", "session.delegation.created",
		"decision.event", "decision.item.created", "decision.item.deleted", "response.event",
		"session.usage.updated", "session.closed", "error", "info"}

	// DefaultLiveClientEvents is what a browser's data channel may send when
	// the file sets no live.client: mute, unmute and close. Everything that
	// changes the session or adds to the conversation (session.update,
	// session.instructions.append, response.create, ...) is for the server.
	DefaultLiveClientEvents = []string{"session.input_audio.mute", "session.input_audio.unmute", "session.close"}
)

// maxLiveInput is the documented cap on startup input messages.
const maxLiveInput = 128

var (
	ackDelay = integer(0, 60000)

	liveVoice = stringOr(enum(LiveVoices...), object(req("id", str(true, 0))))

	// serverEventSelector is one allowed_server_events entry: response_event
	// is required for response.event and forbidden for every other type.
	serverEventSelector = func(c *checker, path string, v any) {
		object(req("type", enum(LiveServerEvents...)), opt("response_event", str(true, 0)))(c, path, v)
		m, _ := v.(map[string]any)
		_, has := m["response_event"]
		switch t, _ := m["type"].(string); {
		case t == "response.event" && !has:
			c.fail(join(path, "response_event"), `is required when type is "response.event"`)
		case t != "response.event" && t != "" && has:
			c.fail(join(path, "response_event"), `is allowed only when type is "response.event"`)
		}
	}

	dataChannel = object(
		opt("allowed_client_events", stringOr(enum("all"), distinct(enum(LiveClientEvents...), 0))),
		opt("allowed_server_events", stringOr(enum("all"), array(serverEventSelector, 0))),
	)

	liveFunctionTool = []member{
		req("name", matching(toolName, "1-64 letters, digits, _ or -")),
		opt("description", str(false, 0)),
		opt("strict", boolean),
		opt("parameters", anyObject),
	}

	shellSkill = union(map[string][]member{
		"skill_reference": {req("skill_id", str(true, 0)), opt("version", str(true, 0))},
		"inline": {req("name", str(true, 0)), req("description", str(false, 0)), req("source", object(
			req("data", str(true, 0)), opt("media_type", enum("application/zip")), opt("type", enum("base64"))))},
	})

	shellEnvironment = union(map[string][]member{
		"container_auto": {
			opt("file_ids", distinct(str(true, 0), 0)),
			opt("memory_limit", enum("1g", "4g", "16g", "64g")),
			opt("network_policy", union(map[string][]member{
				"disabled":  {},
				"allowlist": {req("allowed_domains", distinct(str(true, 0), 0))},
			})),
			opt("skills", array(shellSkill, 0)),
		},
		"container_reference": {req("container_id", str(true, 0))},
		"local": {opt("skills", array(object(req("name", str(true, 0)), req("description", str(false, 0)),
			req("path", str(true, 0))), 0))},
	})

	// responsesTool is a tool of the Responses backend
	// (live.ResponsesDelegationConfigToolUnionParam): only functions and the
	// shell take settings here; the hosted tools are configured by type.
	responsesTool = union(map[string][]member{
		"function":                  liveFunctionTool,
		"shell":                     {opt("environment", shellEnvironment)},
		"web_search":                {},
		"file_search":               {},
		"code_interpreter":          {},
		"image_generation":          {},
		"mcp":                       {},
		"custom":                    {},
		"namespace":                 {},
		"tool_search":               {},
		"programmatic_tool_calling": {},
		"computer":                  {},
		"apply_patch":               {},
	})

	namedTool = map[string][]member{
		"function":                  {req("name", str(true, 0))},
		"mcp":                       {req("server_label", str(true, 0)), req("name", str(true, 0))},
		"custom":                    {req("name", str(true, 0))},
		"file_search":               {},
		"web_search":                {},
		"web_search_preview":        {},
		"image_generation":          {},
		"computer":                  {},
		"code_interpreter":          {},
		"programmatic_tool_calling": {},
		"shell":                     {},
		"apply_patch":               {},
	}

	// responsesToolChoice is live.ResponsesDelegationConfigToolChoiceUnionParam.
	responsesToolChoice = stringOr(enum("auto", "none", "required"), union(withVariant(namedTool, "allowed_tools", []member{
		opt("mode", enum("none", "auto", "required")),
		req("tools", array(union(namedTool), 0)),
	})))

	responsesDelegation = object(
		req("model", str(true, 0)),
		opt("instructions", nullable(str(false, maxInstructionsBytes))),
		opt("max_output_tokens", integer(1, 1<<31-1)),
		opt("parallel_tool_calls", boolean),
		opt("reasoning", object(
			opt("effort", enum("none", "minimal", "low", "medium", "high", "xhigh")),
			opt("summary", enum("concise", "detailed", "auto")),
		)),
		opt("service_tier", enum("auto", "default", "fast_tier_temp_pilot", "flex", "priority", "ultrafast")),
		opt("text", object(opt("verbosity", enum("low", "medium", "high")))),
		opt("tool_choice", responsesToolChoice),
		opt("tools", array(responsesTool, maxTools)),
	)

	// delegation is MediaSessionConfig.delegation; null selects the client.
	// The Decisions variant is not taken: see docs/session-config.md.
	delegation = nullable(union(map[string][]member{
		"client":    {opt("acknowledgement_delay_ms", ackDelay)},
		"responses": {opt("acknowledgement_delay_ms", ackDelay), req("responses", responsesDelegation)},
	}))

	initialItem = func(c *checker, path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			c.fail(path, "must be an object, got %s", typeName(v))
			return
		}
		role, _ := m["role"].(string)
		partType := enum("input_text")
		if role == "assistant" {
			partType = enum("text", "output_text")
		}
		part := object(opt("type", partType), req("text", str(false, 0)))
		content := func(c *checker, path string, v any) {
			array(part, 0)(c, path, v)
			if a, ok := v.([]any); ok && len(a) != 1 {
				c.fail(path, "must hold exactly one text part, got %d", len(a))
			}
		}
		checkMembers(c, path, m, []member{
			req("role", enum("developer", "user", "assistant")),
			req("content", content),
			opt("type", enum("message")),
			opt("id", str(true, 0)),
			opt("status", enum("incomplete", "completed")),
		})
	}
)

// withVariant is m with one more variant.
func withVariant(m map[string][]member, name string, members []member) map[string][]member {
	out := maps.Clone(m)
	out[name] = members
	return out
}

// liveMembers is the Live part of the file: a MediaSessionConfig whose
// model, voice and instructions each come from one place only.
func liveMembers(env Base) []member {
	model := opt("model", enum(LiveModels...))
	if env.Model.Value != "" {
		model = refused("model", "is already set by "+env.Model.Var+"; set the model in one place")
	}
	instructions := opt("instructions", nullable(str(false, maxInstructionsBytes)))
	if env.Instructions.Value != "" {
		instructions = refused("instructions", "is already set by "+env.Instructions.Var+"; set instructions in one place")
	}
	voice := opt("voice", liveVoice)
	if env.Voice.Value != "" {
		voice = refused("voice", "is already set by "+env.Voice.Var+"; set the voice in one place")
	}
	return []member{
		model,
		instructions,
		opt("store", boolean),
		opt("delegation", delegation),
		opt("audio", object(opt("output", object(voice)))),
		opt("client", object(req("data_channel", dataChannel))),
		opt("input", array(initialItem, maxLiveInput)),
		refused("triggers", "is not supported by rtgate's session file (Decisions triggers)"),
	}
}
