// Package pricing knows what OpenAI charges for the realtime and live models
// and turns a call's usage into money.
//
// Money is an integer number of micro-dollars (Micros). Token prices are
// kept per million tokens, so a step's cost is Σ tokens × price / 10⁶,
// computed in integers and rounded up once per step: a step is never
// under-charged and over-charged by less than one micro-dollar. Live
// prices are per minute and billed per second; a Live session's cost is
// computed from its cumulative duration (LivePrice.Cost), so charging the
// differences between successive totals sums to the session's exact cost
// (within one micro-dollar), however many steps it took.
//
// The built-in table (Builtin) holds OpenAI's list prices as of
// 2026-11-30; PRICES_FILE (LoadFile) adds models and overrides prices, for
// new models and negotiated rates.
package pricing

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Kind is how a model is billed.
type Kind string

// Billing kinds.
const (
	// Realtime models are billed per token, by modality (Realtime API).
	Realtime Kind = "realtime"
	// Live models are billed per second of session (GPT-Live).
	Live Kind = "live"
)

// TokenRates are one modality's prices in micro-dollars per million
// tokens: $4.00 per 1M tokens is 4_000_000.
type TokenRates struct {
	Input       Micros `json:"input"`
	CachedInput Micros `json:"cached_input"`
	Output      Micros `json:"output"`
}

// RealtimePrice prices a Realtime model's tokens. Image has no output
// price; a model without image input (HasImage false) prices image tokens
// at its text input rates.
type RealtimePrice struct {
	Text     TokenRates
	Audio    TokenRates
	Image    TokenRates
	HasImage bool
}

// LivePrice prices a GPT-Live model: PerMinute while active, StandbyPerMinute
// while paused in standby (0 when the model has no standby rate: standby is
// then billed as active), and the creation charge — Creation of active time
// billed when the session is created and credited against its duration.
type LivePrice struct {
	PerMinute        Micros
	StandbyPerMinute Micros
	Creation         time.Duration
}

// Price is one model's price: exactly one of Realtime and Live is set,
// matching Kind.
type Price struct {
	Model    string
	Kind     Kind
	Realtime *RealtimePrice
	Live     *LivePrice
}

// RealtimeUsage is one Realtime response's usage: the JSON shape of
// response.done's response.usage, so a sideband can decode it as is.
// Cached tokens are a subset of the input tokens.
type RealtimeUsage struct {
	TotalTokens        int64              `json:"total_tokens"`
	InputTokens        int64              `json:"input_tokens"`
	OutputTokens       int64              `json:"output_tokens"`
	InputTokenDetails  InputTokenDetails  `json:"input_token_details"`
	OutputTokenDetails OutputTokenDetails `json:"output_token_details"`
}

// InputTokenDetails splits a response's input tokens by modality.
type InputTokenDetails struct {
	TextTokens          int64               `json:"text_tokens"`
	AudioTokens         int64               `json:"audio_tokens"`
	ImageTokens         int64               `json:"image_tokens"`
	CachedTokens        int64               `json:"cached_tokens"`
	CachedTokensDetails CachedTokensDetails `json:"cached_tokens_details"`
}

// CachedTokensDetails splits the cached input tokens by modality.
type CachedTokensDetails struct {
	TextTokens  int64 `json:"text_tokens"`
	AudioTokens int64 `json:"audio_tokens"`
	ImageTokens int64 `json:"image_tokens"`
}

// OutputTokenDetails splits a response's output tokens by modality.
type OutputTokenDetails struct {
	TextTokens  int64 `json:"text_tokens"`
	AudioTokens int64 `json:"audio_tokens"`
}

// Bounds that keep every product of a count and a price inside int64: a
// hundred million tokens (far above any context window) at MaxTokenRate,
// and 31 days of session at MaxMinuteRate.
const (
	maxTokens = 100_000_000
	maxLive   = 31 * 24 * time.Hour
	// MaxTokenRate is the highest price per million tokens accepted: $1,000.
	MaxTokenRate = 1000 * Dollar
	// MaxMinuteRate is the highest price per minute accepted: $100.
	MaxMinuteRate = 100 * Dollar
)

// ErrBadUsage is wrapped by Cost's errors for usage no response can have.
var ErrBadUsage = errors.New("pricing: impossible usage")

// Cost is what the response with usage u costs, rounded up to a whole
// micro-dollar. For each input modality the cached tokens (a subset of its
// tokens) are priced at the cached rate and the rest at the full rate;
// output text and audio at their output rates. Tokens the details do not
// attribute to a modality (input_tokens above the modalities' sum, or
// output_tokens above theirs) are priced at the model's highest rate of
// that side, so missing details never under-charge; cached_tokens itself is
// not used, only its per-modality details. Negative counts, cached tokens
// above their modality's tokens and absurd counts are ErrBadUsage.
func (p RealtimePrice) Cost(u RealtimeUsage) (Micros, error) {
	in, out := u.InputTokenDetails, u.OutputTokenDetails
	cached := in.CachedTokensDetails
	for _, n := range []int64{u.InputTokens, u.OutputTokens, in.TextTokens, in.AudioTokens, in.ImageTokens,
		cached.TextTokens, cached.AudioTokens, cached.ImageTokens, out.TextTokens, out.AudioTokens} {
		if n < 0 || n > maxTokens {
			return 0, fmt.Errorf("%w: token count %d", ErrBadUsage, n)
		}
	}
	image := p.Image
	if !p.HasImage {
		image = p.Text
	}
	// sum is in micro-dollars × 10⁶ (token × micro-dollars per 1M tokens).
	var sum int64
	for _, m := range []struct {
		tokens, cached int64
		rates          TokenRates
		name           string
	}{
		{in.TextTokens, cached.TextTokens, p.Text, "text"},
		{in.AudioTokens, cached.AudioTokens, p.Audio, "audio"},
		{in.ImageTokens, cached.ImageTokens, image, "image"},
	} {
		if m.cached > m.tokens {
			return 0, fmt.Errorf("%w: %d cached %s tokens of %d", ErrBadUsage, m.cached, m.name, m.tokens)
		}
		sum += (m.tokens-m.cached)*int64(m.rates.Input) + m.cached*int64(m.rates.CachedInput)
	}
	if rest := u.InputTokens - in.TextTokens - in.AudioTokens - in.ImageTokens; rest > 0 {
		sum += rest * int64(max(p.Text.Input, p.Audio.Input, image.Input))
	}
	sum += out.TextTokens*int64(p.Text.Output) + out.AudioTokens*int64(p.Audio.Output)
	if rest := u.OutputTokens - out.TextTokens - out.AudioTokens; rest > 0 {
		sum += rest * int64(max(p.Text.Output, p.Audio.Output))
	}
	return Micros(ceilDiv(sum, 1_000_000)), nil
}

// CreationCharge is what creating a session costs before it runs: Creation
// at the active rate, rounded up.
func (p LivePrice) CreationCharge() Micros { return p.Cost(0, 0) }

// Cost is what a session that has used active and standby time so far
// costs in total, creation charge included: the creation charge is credited
// against the duration, so the session pays whichever is more, the
// creation charge or its time (per millisecond, rounded up once). Charging
// Cost(after) − Cost(before) for each usage step sums to Cost(final).
func (p LivePrice) Cost(active, standby time.Duration) Micros {
	standbyRate := p.StandbyPerMinute
	if standbyRate == 0 {
		standbyRate = p.PerMinute
	}
	creation := min(p.Creation, maxLive).Milliseconds() * int64(p.PerMinute)
	used := clampLive(active).Milliseconds()*int64(p.PerMinute) + clampLive(standby).Milliseconds()*int64(standbyRate)
	return Micros(ceilDiv(max(creation, used), 60_000))
}

func clampLive(d time.Duration) time.Duration { return min(max(d, 0), maxLive) }

// Seconds turns a usage.seconds value (a JSON number of seconds, possibly
// fractional) into a Duration rounded to the millisecond. NaN, infinities,
// negative values and more than 31 days are ErrBadUsage.
func Seconds(s float64) (time.Duration, error) {
	if math.IsNaN(s) || s < 0 || s > maxLive.Seconds() {
		return 0, fmt.Errorf("%w: %v seconds", ErrBadUsage, s)
	}
	return time.Duration(math.Round(s*1000)) * time.Millisecond, nil
}
