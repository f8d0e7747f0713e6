package calls

import (
	"encoding/json"
	"math"

	"github.com/rtgate/rtgate/internal/usage"
)

// This file reads the server events of a sideband: only the few fields the
// controller acts on. Conversation content is never decoded beyond them.

// event is one server event as the controller reads it.
type event struct {
	Type          string         `json:"type"`
	ClientEventID string         `json:"client_event_id"`
	Session       map[string]any `json:"session"`
	// Reason is a Live session.closed's reason; Code an info event's.
	Reason string `json:"reason"`
	Code   string `json:"code"`
	// Error is an error event's error. The client event it is about is
	// error.event_id on Realtime, client_event_id on Live.
	Error *struct {
		Code          string `json:"code"`
		EventID       string `json:"event_id"`
		ClientEventID string `json:"client_event_id"`
	} `json:"error"`
	// Usage is a Live session.usage.updated's or session.closed's.
	Usage *struct {
		Seconds *float64 `json:"seconds"`
	} `json:"usage"`
	// Response is a Realtime response.done's.
	Response *struct {
		Usage *realtimeUsage `json:"usage"`
	} `json:"response"`
}

// realtimeUsage is response.usage of a Realtime response.done.
type realtimeUsage struct {
	InputTokens       int64 `json:"input_tokens"`
	OutputTokens      int64 `json:"output_tokens"`
	InputTokenDetails struct {
		CachedTokens        int64 `json:"cached_tokens"`
		TextTokens          int64 `json:"text_tokens"`
		AudioTokens         int64 `json:"audio_tokens"`
		ImageTokens         int64 `json:"image_tokens"`
		CachedTokensDetails struct {
			TextTokens  int64 `json:"text_tokens"`
			AudioTokens int64 `json:"audio_tokens"`
			ImageTokens int64 `json:"image_tokens"`
		} `json:"cached_tokens_details"`
	} `json:"input_token_details"`
	OutputTokenDetails struct {
		TextTokens  int64 `json:"text_tokens"`
		AudioTokens int64 `json:"audio_tokens"`
	} `json:"output_token_details"`
}

// errorAbout reports whether ev is an error about the client event id.
func (ev *event) errorAbout(id string) bool {
	return ev.Error != nil && id != "" && (ev.Error.EventID == id || ev.Error.ClientEventID == id || ev.ClientEventID == id)
}

func parseEvent(b []byte) (event, error) {
	var ev event
	err := json.Unmarshal(b, &ev)
	return ev, err
}

// delta is the usage one response.done reports. Tokens a total counts
// that its details do not place are counted as audio, the dearest
// modality, so that a budget is never under-charged.
func (u *realtimeUsage) delta() usage.Usage {
	in, c := u.InputTokenDetails, u.InputTokenDetails.CachedTokensDetails
	out := u.OutputTokenDetails
	d := usage.Usage{
		InputTextTokens: in.TextTokens, InputAudioTokens: in.AudioTokens, InputImageTokens: in.ImageTokens,
		CachedTextTokens: c.TextTokens, CachedAudioTokens: c.AudioTokens, CachedImageTokens: c.ImageTokens,
		OutputTextTokens: out.TextTokens, OutputAudioTokens: out.AudioTokens,
		Responses: 1,
	}
	d.InputAudioTokens += max(u.InputTokens-in.TextTokens-in.AudioTokens-in.ImageTokens, 0)
	d.CachedAudioTokens += max(in.CachedTokens-c.TextTokens-c.AudioTokens-c.ImageTokens, 0)
	d.OutputAudioTokens += max(u.OutputTokens-out.TextTokens-out.AudioTokens, 0)
	return d
}

// liveMillis is a Live usage.seconds in milliseconds, or -1 when absent.
func (ev *event) liveMillis() int64 {
	// Beyond a billion seconds (31 years) the figure is nonsense.
	if ev.Usage == nil || ev.Usage.Seconds == nil || !(*ev.Usage.Seconds >= 0 && *ev.Usage.Seconds < 1e9) {
		return -1
	}
	return int64(math.Round(*ev.Usage.Seconds * 1000))
}

// activity is what an event says about whether the call is in use, for
// the idle timeout.
type activity int

const (
	activityNone activity = iota
	// activityPulse: something happened (a turn committed, text came in,
	// the model spoke).
	activityPulse
	// activitySpeechStart, activitySpeechStop: the caller started or
	// stopped speaking (Realtime VAD).
	activitySpeechStart
	activitySpeechStop
	// activityResponseStart, activityResponseStop: a response started or
	// ended (Realtime).
	activityResponseStart
	activityResponseStop
)

// activityOf classifies an event of kind for the idle timeout.
//
// Realtime: the caller's speech (input_audio_buffer.speech_started until
// speech_stopped) and a response (response.created until response.done)
// keep a call busy however long they last; a committed turn, a
// conversation item, or output audio starting or stopping are activity.
//
// GPT-Live has no speech start and stop events: the transcript deltas of
// either side, output audio, a delegation and Responses events are
// activity. usage.updated is not (it ticks every second, spoken or
// silent), nor is the sideband's reflected input audio (silence included).
func activityOf(kind Kind, typ string) activity {
	if kind == KindLive {
		switch typ {
		case "session.input_transcript.delta", "session.output_transcript.delta", "session.output_audio.delta",
			"session.delegation.created", "response.event":
			return activityPulse
		}
		return activityNone
	}
	switch typ {
	case "input_audio_buffer.speech_started":
		return activitySpeechStart
	case "input_audio_buffer.speech_stopped":
		return activitySpeechStop
	case "response.created":
		return activityResponseStart
	case "response.done":
		return activityResponseStop
	case "input_audio_buffer.committed", "conversation.item.added", "conversation.item.created",
		"output_audio_buffer.started", "output_audio_buffer.stopped":
		return activityPulse
	}
	return activityNone
}
