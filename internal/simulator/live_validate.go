package simulator

import (
	"net/http"
	"slices"
	"strconv"
)

// Live models and names, from openai-go v3.99.0 (package live) and OpenAI's
// model pages.
var (
	// liveModels are the GPT-Live models the simulator accepts outside Azure mode.
	liveModels = []string{"gpt-live-1", "gpt-live-1.1"}
	// liveVoices are the built-in Live voices (live.BuiltInVoice).
	liveVoices = []string{"alloy", "ash", "ballad", "beacon", "bossa", "cedar", "cinder", "coral", "delta",
		"echo", "gleam", "marin", "meridian", "quartz", "ripple", "sage", "shida", "shimmer", "stone",
		"tempo", "verse", "vesper", "willow"}
	// liveClientEvents are the Live client event types (live.ClientEventUnionParam
	// and the sideband's transport.dtmf.send).
	liveClientEvents = []string{"session.start", "session.update", "session.input_audio.append",
		"session.input_audio.mute", "session.input_audio.unmute", "session.output_audio.fixture.play",
		"session.instructions.append", "session.thinking.append", "session.commentary.append",
		"decision.create", "decision.item.create", "decision.item.delete", "response.item.create",
		"response.create", "session.close", "transport.dtmf.send"}
	// liveServerEvents are the Live server event types (live.ServerEventUnion).
	liveServerEvents = []string{"session.started", "session.updated", "session.input_audio.muted",
		"session.input_audio.unmuted", "session.output_audio.fixture.playing",
		"session.output_audio.fixture.played", "session.instructions.appended", "session.thinking.appended",
		"session.commentary.appended", "session.input_audio.append", "session.output_audio.delta",
		"session.input_transcript.delta", "session.output_transcript.delta", "session.delegation.created",
		"decision.event", "decision.item.created", "decision.item.deleted", "response.event",
		"session.usage.updated", "session.closed", "error", "info", "transport.dtmf.received",
		"transport.dtmf.send", "transport.dtmf.sent", "transport.ringing", "transport.answered",
		"transport.failed"}
)

// DefaultLiveVoice is the voice a Live session gets when the request names none.
const DefaultLiveVoice = "marin"

// maxLiveInput is the documented cap on startup input messages.
const maxLiveInput = 128

// union validates an object discriminated on its "type" member.
func union(variants map[string][]field, order ...string) check {
	return func(path string, v any) *apiError {
		m, ok := v.(map[string]any)
		if !ok {
			return errInvalidType(path, "an object", v)
		}
		t, present := m["type"]
		if !present {
			return errMissingParam(join(path, "type"))
		}
		if err := enum(order...)(join(path, "type"), t); err != nil {
			return err
		}
		_, err := checkObject(path, v, variants[t.(string)])
		return err
	}
}

// allOr accepts the string "all" or a value checked by c.
func allOr(c check) check {
	return func(path string, v any) *apiError {
		if _, ok := v.(string); ok {
			return enum("all")(path, v)
		}
		return c(path, v)
	}
}

// maxItems wraps an array check with a length cap.
func maxItems(n int, c check) check {
	return func(path string, v any) *apiError {
		if a, ok := v.([]any); ok && len(a) > n {
			return errBadRequest(path, "array_above_max_length", "Invalid '"+path+"': array too long. Expected an array with maximum length "+strconv.Itoa(n)+", but got an array with length "+strconv.Itoa(len(a))+" instead.")
		}
		return c(path, v)
	}
}

var (
	ackDelay = intRange(0, 1<<31-1)

	// selector is one allowed_server_events entry: response_event is required
	// for response.event and forbidden for everything else.
	selector = func(path string, v any) *apiError {
		m, err := checkObject(path, v, []field{{"type", enum(liveServerEvents...)}, {"response_event", str(true)}}, "type")
		if err != nil {
			return err
		}
		_, has := m["response_event"]
		switch {
		case m["type"] == "response.event" && !has:
			return errMissingParam(join(path, "response_event"))
		case m["type"] != "response.event" && has:
			return errBadRequest(join(path, "response_event"), codeInvalidValue,
				"Invalid '"+join(path, "response_event")+"': only allowed when type is 'response.event'.")
		}
		return nil
	}

	dataChannelConfig = object([]field{
		{"allowed_client_events", allOr(array(enum(liveClientEvents...)))},
		{"allowed_server_events", allOr(array(selector))},
	})

	responsesSettings = []field{
		{"instructions", nullable(str(false))},
		{"max_output_tokens", intRange(1, 1<<31-1)},
		{"parallel_tool_calls", boolean},
		{"reasoning", object([]field{
			{"effort", enum("none", "minimal", "low", "medium", "high", "xhigh")},
			{"summary", enum("concise", "detailed", "auto")},
		})},
		{"service_tier", enum("auto", "default", "fast_tier_temp_pilot", "flex", "priority", "ultrafast")},
		{"text", object([]field{{"verbosity", enum("low", "medium", "high")}})},
		{"tool_choice", anyValue},
		{"tools", array(anyValue)},
	}

	// liveDelegation is MediaSessionConfig.delegation (null selects the client).
	liveDelegation = nullable(union(map[string][]field{
		"client": {{"type", nil}, {"acknowledgement_delay_ms", ackDelay}},
		"responses": {{"type", nil}, {"acknowledgement_delay_ms", ackDelay},
			{"responses", object(append([]field{{"model", str(true)}}, responsesSettings...), "model")}},
		"decisions": {{"type", nil}, {"acknowledgement_delay_ms", ackDelay}, {"decisions", anyValue}},
	}, "client", "responses", "decisions"))

	// liveDelegationUpdate is session.update's delegation: every setting optional.
	liveDelegationUpdate = union(map[string][]field{
		"client": {{"type", nil}, {"acknowledgement_delay_ms", ackDelay}},
		"responses": {{"type", nil}, {"acknowledgement_delay_ms", ackDelay},
			{"responses", object(append([]field{{"model", str(true)}}, responsesSettings...))}},
		"decisions": {{"type", nil}, {"acknowledgement_delay_ms", ackDelay}, {"decisions", anyValue}},
	}, "client", "responses", "decisions")

	liveInputItem = func(path string, v any) *apiError {
		m, ok := v.(map[string]any)
		if !ok {
			return errInvalidType(path, "an object", v)
		}
		role, present := m["role"]
		if !present {
			return errMissingParam(join(path, "role"))
		}
		if err := enum("developer", "user", "assistant")(join(path, "role"), role); err != nil {
			return err
		}
		partType := enum("input_text")
		if role == "assistant" {
			partType = enum("text", "output_text")
		}
		part := object([]field{{"type", partType}, {"text", str(false)}}, "text")
		content := func(path string, v any) *apiError {
			if a, ok := v.([]any); ok && len(a) != 1 {
				return errBadRequest(path, codeInvalidValue, "Invalid '"+path+"': expected exactly one text part.")
			}
			return array(part)(path, v)
		}
		_, err := checkObject(path, v, []field{
			{"type", enum("message")}, {"role", nil}, {"content", content}, {"id", str(true)},
			{"status", enum("incomplete", "completed")},
		}, "role", "content")
		return err
	}

	liveVoice = stringOr(enum(liveVoices...), object([]field{{"id", str(true)}}, "id"))
)

// liveConfigFields is MediaSessionConfig, with model checked by model.
func liveConfigFields(model check) []field {
	return []field{
		{"model", model},
		{"instructions", nullable(str(false))},
		{"store", boolean},
		{"delegation", liveDelegation},
		{"audio", object([]field{{"output", object([]field{{"voice", liveVoice}})}})},
		{"client", object([]field{{"data_channel", dataChannelConfig}}, "data_channel")},
		{"input", maxItems(maxLiveInput, array(liveInputItem))},
		{"triggers", array(anyValue)},
	}
}

// liveModelCheck accepts the Live models, or in Azure mode a deployment.
func (s *Simulator) liveModelCheck() check {
	if !s.azure {
		return enum(liveModels...)
	}
	return func(path string, v any) *apiError {
		if err := str(true)(path, v); err != nil {
			return err
		}
		return s.checkDeployment(path, v)
	}
}

// checkLiveCreate validates a POST /v1/live/sessions body and returns the
// session config and the SDP offer.
func (s *Simulator) checkLiveCreate(body map[string]any) (map[string]any, string, *apiError) {
	transport := object([]field{{"type", enum("webrtc", "sip")}, {"sdp", anyValue}})
	if _, err := checkObject("", body, []field{{"session", object(liveConfigFields(s.liveModelCheck()), "model")},
		{"transport", transport}}, "session", "transport"); err != nil {
		return nil, "", err
	}
	tr := body["transport"].(map[string]any)
	if tr["type"] == "sip" {
		return nil, "", &apiError{Status: http.StatusForbidden, Type: typeInvalidRequest, Param: "transport.type",
			Code: "outbound_sip_not_enabled", Message: "Outbound SIP calling is not enabled for this project."}
	}
	sdp, _ := tr["sdp"].(string)
	if sdp == "" {
		if v, ok := tr["sdp"]; ok && v != nil {
			if _, isStr := v.(string); !isStr {
				return nil, "", errInvalidType("transport.sdp", "a string", v)
			}
		}
		return nil, "", errBadRequest("transport.sdp", codeInvalidValue, "An SDP offer is required.")
	}
	return body["session"].(map[string]any), sdp, nil
}

// liveClientEventAllowed reports whether the data channel may send typ.
func liveClientEventAllowed(allowed any, typ string) bool {
	list, ok := allowed.([]any)
	if !ok {
		return true // "all" or omitted
	}
	return slices.Contains(list, any(typ))
}
