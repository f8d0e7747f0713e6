package simulator

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"unicode/utf8"
)

// Voice activity detection on the browser's Opus packets (see the package doc).
const (
	// VoicedPayloadBytes is the smallest Opus payload counted as speech. Opus
	// encodes silence (and a muted or disabled microphone) in a few bytes per
	// 20 ms frame; speech and tones take tens of bytes.
	VoicedPayloadBytes = 20
	// speechStartPackets voiced packets in a row (60 ms) start speech.
	speechStartPackets = 3
	// packetMS is the audio one packet carries: WebRTC's Opus default of 20 ms.
	packetMS = 20
	// rtpRate is Opus's RTP clock rate.
	rtpRate = 48000
	// semanticSilenceMS is the silence that ends speech under semantic_vad,
	// which has no silence_duration_ms of its own.
	semanticSilenceMS = 500
)

// Token accounting of simulated responses (see the package doc).
const (
	// inputAudioMSPerToken: user audio costs one token per 100 ms.
	inputAudioMSPerToken = 100
	// outputAudioMSPerToken: assistant audio costs one token per 50 ms.
	outputAudioMSPerToken = 50
	// transcriptMSPerToken: the assistant's transcript is one text token per 500 ms of audio.
	transcriptMSPerToken = 500
	// charsPerToken: text is one token per 4 characters, rounded up.
	charsPerToken = 4
	// imageTokens is what one input_image part costs.
	imageTokens = 85
	// manualReplyMS is the length of the reply to a response.create that has no
	// new user audio to echo.
	manualReplyMS = 1000
)

// realtimeState is a Realtime call's audio clock, turn detection and conversation.
type realtimeState struct {
	haveClock   bool
	lastTS      uint32
	samples     int64 // 48 kHz samples since the first packet
	speaking    bool
	run         int   // voiced packets in a row while not speaking
	runStartMS  int64 // where that run began
	startMS     int64 // start of the current turn's buffered audio (with prefix padding)
	voiceMS     int64 // first voiced audio of the current turn
	lastVoiceMS int64 // end of the last voiced packet of the current turn
	itemID      string

	items       []convItem // the conversation
	cachedItems int        // items that were input to the previous response
	responses   int
	audioOut    bool // an audio response has been produced: the voice is fixed
}

// convItem is one conversation item's token weight.
type convItem struct {
	id                  string
	text, audio, images int64
}

func newRealtimeState() *realtimeState { return &realtimeState{} }

// ceilDiv is a/b rounded up, for a >= 0 and b > 0.
func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

func textTokens(s string) int64 { return ceilDiv(int64(utf8.RuneCountInString(s)), charsPerToken) }

// vad returns the turn detection in force: type ("" when off), prefix padding,
// silence duration, and whether a response is created at the end of speech.
func (ss *session) vad() (typ string, prefixMS, silenceMS int64, create bool) {
	audio, _ := ss.state["audio"].(map[string]any)
	in, _ := audio["input"].(map[string]any)
	td, _ := in["turn_detection"].(map[string]any)
	if td == nil {
		return "", 0, 0, false
	}
	typ, _ = td["type"].(string)
	prefixMS, silenceMS = 300, 200
	if typ == "semantic_vad" {
		silenceMS = semanticSilenceMS
	}
	if n, ok := number(td["prefix_padding_ms"]); ok {
		prefixMS = n
	}
	if n, ok := number(td["silence_duration_ms"]); ok && typ != "semantic_vad" {
		silenceMS = n
	}
	create = true
	if b, ok := td["create_response"].(bool); ok {
		create = b
	}
	return typ, prefixMS, silenceMS, create
}

// number reads a JSON number decoded either way (float64 or json.Number).
func number(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			f, ferr := n.Float64()
			return int64(f), ferr == nil
		}
		return i, true
	case int64:
		return n, true
	case int:
		return int64(n), true
	}
	return 0, false
}

// audio runs turn detection on one inbound packet (Realtime calls only).
func (ss *session) audio(ts uint32, payload int) {
	if ss.kind != KindRealtime {
		return
	}
	ss.do(func() {
		if ss.ended {
			return
		}
		rt := ss.rt
		if !rt.haveClock {
			rt.haveClock, rt.lastTS = true, ts
		} else if d := int32(ts - rt.lastTS); d > 0 {
			rt.samples += int64(d)
			rt.lastTS = ts
		}
		now := rt.samples * 1000 / rtpRate
		typ, prefix, silence, create := ss.vad()
		if typ == "" {
			return
		}
		voiced := payload >= VoicedPayloadBytes
		switch {
		case rt.speaking && voiced:
			rt.lastVoiceMS = now + packetMS
		case rt.speaking && now-rt.lastVoiceMS >= silence:
			ss.endSpeechLocked(rt.lastVoiceMS+silence, create)
		case !rt.speaking && voiced:
			if rt.run == 0 {
				rt.runStartMS = now
			}
			rt.run++
			if rt.run >= speechStartPackets {
				ss.startSpeechLocked(rt.runStartMS, max(0, rt.runStartMS-prefix))
				rt.lastVoiceMS = now + packetMS
			}
		case !rt.speaking:
			rt.run = 0
		}
	})
}

// startSpeechLocked emits input_audio_buffer.speech_started.
func (ss *session) startSpeechLocked(voiceMS, audioStartMS int64) {
	rt := ss.rt
	rt.speaking, rt.run = true, 0
	rt.startMS, rt.voiceMS = audioStartMS, voiceMS
	rt.itemID = newItemID()
	ss.emitLocked(map[string]any{"type": "input_audio_buffer.speech_started",
		"audio_start_ms": audioStartMS, "item_id": rt.itemID})
}

// endSpeechLocked emits speech_stopped and committed, adds the user's audio to
// the conversation and, when the turn detection says so, creates a response
// that echoes it.
func (ss *session) endSpeechLocked(audioEndMS int64, create bool) {
	rt := ss.rt
	rt.speaking = false
	spoken := rt.lastVoiceMS - rt.voiceMS
	ss.emitLocked(map[string]any{"type": "input_audio_buffer.speech_stopped",
		"audio_end_ms": audioEndMS, "item_id": rt.itemID})
	ss.commitLocked(rt.itemID, audioEndMS-rt.startMS)
	if create {
		ss.respondLocked(spoken, nil, "")
	}
}

// commitLocked emits input_audio_buffer.committed and the user item for ms of
// buffered audio.
func (ss *session) commitLocked(itemID string, ms int64) {
	ss.emitLocked(map[string]any{"type": "input_audio_buffer.committed",
		"item_id": itemID, "previous_item_id": ss.previousItemLocked()})
	item := map[string]any{"id": itemID, "object": "realtime.item", "type": "message", "status": "completed",
		"role": "user", "content": []any{map[string]any{"type": "input_audio", "transcript": nil}}}
	ss.addItemLocked(item, convItem{id: itemID, audio: ceilDiv(ms, inputAudioMSPerToken)})
}

func (ss *session) previousItemLocked() any {
	if n := len(ss.rt.items); n > 0 {
		return ss.rt.items[n-1].id
	}
	return nil
}

// addItemLocked appends an item and emits conversation.item.added and .done.
func (ss *session) addItemLocked(item map[string]any, weight convItem) {
	prev := ss.previousItemLocked()
	ss.rt.items = append(ss.rt.items, weight)
	ss.emitLocked(map[string]any{"type": "conversation.item.added", "previous_item_id": prev, "item": item})
	ss.emitLocked(map[string]any{"type": "conversation.item.done", "previous_item_id": prev, "item": item})
}

func newItemID() string     { return "item_" + randomBase62(21) }
func newResponseID() string { return "resp_" + randomBase62(21) }

// Usage is a Realtime response's usage in the shape of response.done's
// response.usage. Cached tokens are part of the input tokens.
type Usage struct {
	TotalTokens        int64              `json:"total_tokens"`
	InputTokens        int64              `json:"input_tokens"`
	OutputTokens       int64              `json:"output_tokens"`
	InputTokenDetails  InputTokenDetails  `json:"input_token_details"`
	OutputTokenDetails OutputTokenDetails `json:"output_token_details"`
}

// InputTokenDetails splits a response's input tokens by modality.
type InputTokenDetails struct {
	TextTokens          int64         `json:"text_tokens"`
	AudioTokens         int64         `json:"audio_tokens"`
	ImageTokens         int64         `json:"image_tokens"`
	CachedTokens        int64         `json:"cached_tokens"`
	CachedTokensDetails CachedDetails `json:"cached_tokens_details"`
}

// CachedDetails splits the cached input tokens by modality.
type CachedDetails struct {
	TextTokens  int64 `json:"text_tokens"`
	AudioTokens int64 `json:"audio_tokens"`
	ImageTokens int64 `json:"image_tokens"`
}

// OutputTokenDetails splits a response's output tokens by modality.
type OutputTokenDetails struct {
	TextTokens  int64 `json:"text_tokens"`
	AudioTokens int64 `json:"audio_tokens"`
}

// normalized fills the totals that u leaves at zero from its details.
func (u Usage) normalized() Usage {
	d := &u.InputTokenDetails
	if d.CachedTokens == 0 {
		d.CachedTokens = d.CachedTokensDetails.TextTokens + d.CachedTokensDetails.AudioTokens + d.CachedTokensDetails.ImageTokens
	}
	if u.InputTokens == 0 {
		u.InputTokens = d.TextTokens + d.AudioTokens + d.ImageTokens
	}
	if u.OutputTokens == 0 {
		u.OutputTokens = u.OutputTokenDetails.TextTokens + u.OutputTokenDetails.AudioTokens
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.InputTokens + u.OutputTokens
	}
	return u
}

// computedUsageLocked is what a response costs: its input is the session's
// instructions, extra instructions and the whole conversation; the part that
// was already input to the previous response is cached; its output is
// replyMS of audio with its transcript (text only when the output modality is
// text).
func (ss *session) computedUsageLocked(replyMS int64, extraInstructions string) (Usage, bool) {
	rt := ss.rt
	instr, _ := ss.state["instructions"].(string)
	var u Usage
	in := &u.InputTokenDetails
	in.TextTokens = textTokens(instr) + textTokens(extraInstructions)
	for i, it := range rt.items {
		in.TextTokens += it.text
		in.AudioTokens += it.audio
		in.ImageTokens += it.images
		if i < rt.cachedItems {
			in.CachedTokensDetails.TextTokens += it.text
			in.CachedTokensDetails.AudioTokens += it.audio
			in.CachedTokensDetails.ImageTokens += it.images
		}
	}
	if rt.responses > 0 {
		in.CachedTokensDetails.TextTokens += textTokens(instr)
	}
	audioOut := ss.outputsAudioLocked()
	out := &u.OutputTokenDetails
	out.TextTokens = ceilDiv(replyMS, transcriptMSPerToken)
	if audioOut {
		out.AudioTokens = ceilDiv(replyMS, outputAudioMSPerToken)
	}
	limited := false
	if limit, ok := number(ss.state["max_output_tokens"]); ok && out.TextTokens+out.AudioTokens > limit {
		limited = true
		out.AudioTokens = min(out.AudioTokens, limit)
		out.TextTokens = min(out.TextTokens, limit-out.AudioTokens)
	}
	return u.normalized(), limited
}

func (ss *session) outputsAudioLocked() bool {
	mods, _ := ss.state["output_modalities"].([]any)
	return len(mods) == 0 || mods[0] == "audio"
}

// respondLocked emits a whole response (response.created to response.done)
// that replies with replyMS of audio. With usage nil its usage is computed
// from the conversation and the reply joins the conversation; a given usage is
// reported as is and leaves the conversation alone.
func (ss *session) respondLocked(replyMS int64, usage *Usage, extraInstructions string) string {
	rt := ss.rt
	status, details := "completed", any(nil)
	var u Usage
	scripted := usage != nil
	if scripted {
		u = usage.normalized()
	} else {
		var limited bool
		u, limited = ss.computedUsageLocked(replyMS, extraInstructions)
		if limited {
			status, details = "incomplete", map[string]any{"type": "incomplete", "reason": "max_output_tokens"}
		}
	}
	respID, itemID := newResponseID(), newItemID()
	audioOut := ss.outputsAudioLocked()
	audio, _ := ss.state["audio"].(map[string]any)
	out, _ := audio["output"].(map[string]any)
	response := func(status string, output []any, usage any, details any) map[string]any {
		return map[string]any{"id": respID, "object": "realtime.response", "status": status,
			"status_details": details, "output": output, "conversation_id": "conv_" + ss.id,
			"output_modalities": ss.state["output_modalities"], "max_output_tokens": ss.state["max_output_tokens"],
			"audio":    map[string]any{"output": map[string]any{"format": out["format"], "voice": out["voice"]}},
			"usage":    usage,
			"metadata": nil}
	}
	part := map[string]any{"type": "output_audio", "transcript": "(echo)"}
	if !audioOut {
		part = map[string]any{"type": "output_text", "text": "(echo)"}
	}
	item := func(status string, content []any) map[string]any {
		return map[string]any{"id": itemID, "object": "realtime.item", "type": "message", "status": status,
			"role": "assistant", "content": content}
	}
	ss.emitLocked(map[string]any{"type": "response.created", "response": response("in_progress", []any{}, nil, nil)})
	ss.emitLocked(map[string]any{"type": "rate_limits.updated", "rate_limits": []any{
		map[string]any{"name": "requests", "limit": rateLimitRequests, "remaining": rateLimitRequests - 1, "reset_seconds": 60},
		map[string]any{"name": "tokens", "limit": rateLimitTokens, "remaining": max(0, rateLimitTokens-u.TotalTokens), "reset_seconds": 60},
	}})
	ss.emitLocked(map[string]any{"type": "response.output_item.added", "response_id": respID, "output_index": 0,
		"item": item("in_progress", []any{})})
	done := item("completed", []any{part})
	ss.emitLocked(map[string]any{"type": "response.output_item.done", "response_id": respID, "output_index": 0, "item": done})
	ss.emitLocked(map[string]any{"type": "response.done", "response": response(status, []any{done}, u, details)})
	rt.responses++
	if audioOut {
		rt.audioOut = true
	}
	if !scripted {
		rt.cachedItems = len(rt.items)
		rt.items = append(rt.items, convItem{id: itemID, text: u.OutputTokenDetails.TextTokens, audio: u.OutputTokenDetails.AudioTokens})
	}
	return respID
}

// realtimeClientEvents are the Realtime client event types (openai-go v3.99.0).
var realtimeClientEvents = []string{
	"conversation.item.create", "conversation.item.delete", "conversation.item.retrieve",
	"conversation.item.truncate", "input_audio_buffer.append", "input_audio_buffer.clear",
	"input_audio_buffer.commit", "output_audio_buffer.clear", "response.cancel", "response.create",
	"session.update",
}

// realtimeEventLocked handles one Realtime client event, from the browser or a
// sideband alike.
func (ss *session) realtimeEventLocked(_ source, ev map[string]any) {
	typ := ev["type"].(string)
	clientID, _ := ev["event_id"].(string)
	fail := func(e *apiError) { ss.emitLocked(ss.errorEvent(clientID, e)) }
	switch typ {
	case "session.update":
		sess, _, aerr := checkSession("session", ev["session"], "realtime")
		if aerr != nil {
			fail(aerr)
			return
		}
		if ss.rt.audioOut && changesVoice(ss.state, sess) {
			fail(errBadRequest("session.audio.output.voice", "cannot_update_voice",
				"Cannot update a conversation's voice if assistant audio is present."))
			return
		}
		for k, v := range sess {
			switch k {
			case "type", "model":
				// Fixed for the life of the session.
			default:
				ss.state[k] = mergeJSON(ss.state[k], v)
			}
		}
		ss.emitLocked(map[string]any{"type": "session.updated", "session": ss.state})
	case "response.create":
		resp, _ := ev["response"].(map[string]any)
		if v, ok := ev["response"]; ok && resp == nil && v != nil {
			fail(errInvalidType("response", "an object", v))
			return
		}
		extra, _ := resp["instructions"].(string)
		ss.respondLocked(manualReplyMS, nil, extra)
	case "conversation.item.create":
		item, ok := ev["item"].(map[string]any)
		if !ok {
			fail(errMissingParam("item"))
			return
		}
		ss.createItemLocked(item)
	default:
		if !slices.Contains(realtimeClientEvents, typ) {
			fail(errInvalidValue("type", typ, realtimeClientEvents))
		}
		// The other documented client events are accepted and have no simulated effect.
	}
}

// createItemLocked adds a conversation.item.create item to the conversation.
func (ss *session) createItemLocked(item map[string]any) {
	it := maps.Clone(item)
	id, _ := it["id"].(string)
	if id == "" {
		id = newItemID()
		it["id"] = id
	}
	it["object"] = "realtime.item"
	if _, ok := it["status"]; !ok {
		it["status"] = "completed"
	}
	w := convItem{id: id}
	content, _ := it["content"].([]any)
	for _, c := range content {
		part, _ := c.(map[string]any)
		switch part["type"] {
		case "input_text", "text", "output_text":
			s, _ := part["text"].(string)
			w.text += textTokens(s)
		case "input_audio":
			s, _ := part["audio"].(string)
			raw, _ := base64.StdEncoding.DecodeString(s)
			w.audio += ceilDiv(int64(len(raw))*1000/(24000*2), inputAudioMSPerToken)
		case "input_image":
			w.images += imageTokens
		}
	}
	for _, k := range []string{"output", "arguments"} {
		if s, ok := it[k].(string); ok {
			w.text += textTokens(s)
		}
	}
	ss.addItemLocked(it, w)
}

// changesVoice reports whether update sets audio.output.voice to something else.
func changesVoice(state, update map[string]any) bool {
	ua, _ := update["audio"].(map[string]any)
	uo, _ := ua["output"].(map[string]any)
	v, ok := uo["voice"]
	if !ok {
		return false
	}
	sa, _ := state["audio"].(map[string]any)
	so, _ := sa["output"].(map[string]any)
	a, _ := json.Marshal(v)
	b, _ := json.Marshal(so["voice"])
	return string(a) != string(b)
}

// mergeJSON applies a session.update value over the current one: objects merge
// member by member, anything else replaces.
func mergeJSON(cur, upd any) any {
	cm, ok1 := cur.(map[string]any)
	um, ok2 := upd.(map[string]any)
	if !ok1 || !ok2 {
		return upd
	}
	out := maps.Clone(cm)
	for k, v := range um {
		out[k] = mergeJSON(cm[k], v)
	}
	return out
}

// mustJSON encodes a value built from JSON (it cannot fail).
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
