// Package usage is what one proxied call consumed upstream, as OpenAI
// reports it on the call's sideband: tokens by direction and modality for a
// Realtime call (each response.done's response.usage), and voice time for a
// GPT-Live session (session.usage.updated and session.closed). It is a value
// type shared by the call registry (per running call), the per-user records
// (per call, per user) and the metrics; budgets price it.
//
// Usage holds integers only, so every store can add it atomically (Redis
// HINCRBY, a Lua loop) and sums never drift.
package usage

import "strconv"

// Usage is a call's consumption. Input counts include their cached part,
// as OpenAI reports them: the uncached input of a modality is Input − Cached.
// The zero value is no usage.
type Usage struct {
	// InputTextTokens, InputAudioTokens and InputImageTokens are the input
	// tokens by modality (response.usage.input_token_details), cached ones
	// included.
	InputTextTokens  int64 `json:"input_text_tokens,omitempty"`
	InputAudioTokens int64 `json:"input_audio_tokens,omitempty"`
	InputImageTokens int64 `json:"input_image_tokens,omitempty"`
	// CachedTextTokens, CachedAudioTokens and CachedImageTokens are the
	// cached part of the input (input_token_details.cached_tokens_details).
	CachedTextTokens  int64 `json:"cached_text_tokens,omitempty"`
	CachedAudioTokens int64 `json:"cached_audio_tokens,omitempty"`
	CachedImageTokens int64 `json:"cached_image_tokens,omitempty"`
	// OutputTextTokens and OutputAudioTokens are the output tokens by
	// modality (response.usage.output_token_details).
	OutputTextTokens  int64 `json:"output_text_tokens,omitempty"`
	OutputAudioTokens int64 `json:"output_audio_tokens,omitempty"`
	// Responses is the number of responses the usage came from.
	Responses int64 `json:"responses,omitempty"`
	// LiveMillis is a GPT-Live session's voice time in milliseconds
	// (usage.seconds × 1000, rounded), which OpenAI bills per second.
	LiveMillis int64 `json:"live_ms,omitempty"`
	// CallMillis is a Realtime call's running time in milliseconds, from
	// its creation, as rtgate metered it (at each response, every few
	// seconds, and at its end): what minute budgets count, since OpenAI
	// bills Realtime by tokens.
	CallMillis int64 `json:"call_ms,omitempty"`
}

// Field is one counter of a Usage by its stable name (the JSON name), as
// stores and metrics address it.
type Field struct {
	Name  string
	Value int64
}

// Names are the counters' stable names, in the order Fields returns them.
var Names = []string{
	"input_text_tokens", "input_audio_tokens", "input_image_tokens",
	"cached_text_tokens", "cached_audio_tokens", "cached_image_tokens",
	"output_text_tokens", "output_audio_tokens", "responses", "live_ms", "call_ms",
}

// ptrs returns the counters of u in the order of Names.
func (u *Usage) ptrs() []*int64 {
	return []*int64{
		&u.InputTextTokens, &u.InputAudioTokens, &u.InputImageTokens,
		&u.CachedTextTokens, &u.CachedAudioTokens, &u.CachedImageTokens,
		&u.OutputTextTokens, &u.OutputAudioTokens, &u.Responses, &u.LiveMillis, &u.CallMillis,
	}
}

// Fields returns every counter of u, zero ones included, in the order of
// Names.
func (u Usage) Fields() []Field {
	ps := u.ptrs()
	out := make([]Field, len(ps))
	for i, p := range ps {
		out[i] = Field{Name: Names[i], Value: *p}
	}
	return out
}

// Set sets the counter named name to v and reports whether the name is
// one of Names.
func (u *Usage) Set(name string, v int64) bool {
	for i, n := range Names {
		if n == name {
			*u.ptrs()[i] = v
			return true
		}
	}
	return false
}

// FromStrings builds a Usage from counter names and decimal values (a
// Redis hash, for example); unknown names and unreadable values are
// ignored.
func FromStrings(m map[string]string) Usage {
	var u Usage
	for k, s := range m {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			u.Set(k, v)
		}
	}
	return u
}

// Add returns u + v, counter by counter.
func (u Usage) Add(v Usage) Usage {
	up, vp := u.ptrs(), v.ptrs()
	for i := range up {
		*up[i] += *vp[i]
	}
	return u
}

// IsZero reports whether every counter of u is zero.
func (u Usage) IsZero() bool { return u == Usage{} }

// Tokens returns the input and output tokens of u over every modality.
func (u Usage) Tokens() (input, output int64) {
	return u.InputTextTokens + u.InputAudioTokens + u.InputImageTokens, u.OutputTextTokens + u.OutputAudioTokens
}
