package pricing

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseUSD(t *testing.T) {
	tests := []struct {
		in   string
		want Micros
		bad  bool
	}{
		{"0", 0, false},
		{"12", 12 * Dollar, false},
		{"12.5", 12_500_000, false},
		{"0.40", 400_000, false},
		{".5", 500_000, false},
		{"0.000001", 1, false},
		{"007.10", 7_100_000, false},
		{"1000000000", MaxUSD, false},
		{"1000000000.000001", 0, true},
		{"99999999999", 0, true},
		{"0.0000001", 0, true}, // seven decimals: below a micro-dollar
		{"-1", 0, true},
		{"+1", 0, true},
		{"1e3", 0, true},
		{"1.", 0, true},
		{".", 0, true},
		{"", 0, true},
		{" 1", 0, true},
		{"1,5", 0, true},
		{"0x10", 0, true},
		{"NaN", 0, true},
		{"1.2.3", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseUSD(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseUSD(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestMicrosString(t *testing.T) {
	for m, want := range map[Micros]string{0: "0.00", 1: "0.000001", 12_500_000: "12.50", 51_800: "0.0518", -1_250_000: "-1.25", 833: "0.000833", 100 * Dollar: "100.00"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(m), got, want)
		}
		if got, _ := json.Marshal(m); string(got) != want {
			t.Errorf("json %d = %s, want %s", int64(m), got, want)
		}
	}
}

func price(t *testing.T, model string) Price {
	t.Helper()
	p, ok := Builtin().Lookup(model)
	if !ok {
		t.Fatalf("no built-in price for %s", model)
	}
	return p
}

func usage(textIn, cachedText, audioIn, cachedAudio, imageIn, cachedImage, textOut, audioOut int64) RealtimeUsage {
	u := RealtimeUsage{InputTokens: textIn + audioIn + imageIn, OutputTokens: textOut + audioOut}
	u.TotalTokens = u.InputTokens + u.OutputTokens
	u.InputTokenDetails = InputTokenDetails{TextTokens: textIn, AudioTokens: audioIn, ImageTokens: imageIn, CachedTokens: cachedText + cachedAudio + cachedImage,
		CachedTokensDetails: CachedTokensDetails{TextTokens: cachedText, AudioTokens: cachedAudio, ImageTokens: cachedImage}}
	u.OutputTokenDetails = OutputTokenDetails{TextTokens: textOut, AudioTokens: audioOut}
	return u
}

// TestRealtimeCost checks Cost to the micro-dollar (so to the cent) against
// figures computed by hand from OpenAI's per-million prices.
func TestRealtimeCost(t *testing.T) {
	tests := []struct {
		name  string
		model string
		u     RealtimeUsage
		want  Micros
	}{
		{
			// The worked example of docs/budgets.md. gpt-realtime-2.1:
			//   text in   (1200-1000) × $4/M    = $0.000800
			//   cached    1000 × $0.40/M        = $0.000400
			//   audio in  (800-500) × $32/M     = $0.009600
			//   cached    500 × $0.40/M         = $0.000200
			//   text out  100 × $24/M           = $0.002400
			//   audio out 600 × $64/M           = $0.038400
			//   total                             $0.051800
			name: "gpt-realtime-2.1 turn with cached text and audio", model: "gpt-realtime-2.1",
			u: usage(1200, 1000, 800, 500, 0, 0, 100, 600), want: 51_800,
		},
		{
			// gpt-realtime-2.1, a minute of audio each way with no cache:
			//   600 × $32/M = $0.019200; 1200 × $64/M = $0.076800; total $0.096000
			name: "a minute of audio each way", model: "gpt-realtime-2.1",
			u: usage(0, 0, 600, 0, 0, 0, 0, 1200), want: 96_000,
		},
		{
			// gpt-realtime-2.1 image: (1000-200) × $5/M = $0.004000,
			// 200 × $0.50/M = $0.000100; total $0.004100
			name: "image input with a cached part", model: "gpt-realtime-2.1",
			u: usage(0, 0, 0, 0, 1000, 200, 0, 0), want: 4_100,
		},
		{
			// gpt-realtime has no image price: image as text,
			// 1000 × $4/M = $0.004000. Its text output is $16/M:
			// 500 × $16/M = $0.008000. Total $0.012000.
			name: "gpt-realtime prices images as text", model: "gpt-realtime",
			u: usage(0, 0, 0, 0, 1000, 0, 500, 0), want: 12_000,
		},
		{
			// gpt-realtime-2.1-mini: text in 1000 × $0.60/M = $0.000600,
			// cached text 3 × $0.06/M = $0.00000018, audio in 100 × $10/M =
			// $0.001000, cached audio 7 × $0.30/M = $0.0000021 (of 107),
			// audio out 50 × $20/M = $0.001000. Sum $0.00260228 → rounded up
			// to $0.002603.
			name: "mini with sub-micro-dollar parts rounds up once", model: "gpt-realtime-2.1-mini",
			u: usage(1003, 3, 107, 7, 0, 0, 0, 50), want: 2_603,
		},
		{
			name: "nothing used costs nothing", model: "gpt-realtime-2.1",
			u: RealtimeUsage{}, want: 0,
		},
		{
			// Details missing: 1000 input tokens unattributed are priced at
			// the highest input rate, audio $32/M = $0.032000; 100 output
			// tokens at the highest output rate, audio $64/M = $0.006400.
			// Total $0.038400.
			name: "tokens without details are priced at the highest rate", model: "gpt-realtime-2.1",
			u: RealtimeUsage{InputTokens: 1000, OutputTokens: 100, TotalTokens: 1100}, want: 38_400,
		},
		{
			// cached_tokens without per-modality details is ignored: the
			// 500 audio tokens are all priced in full, 500 × $32/M = $0.016.
			name: "a cached total without details never lowers the price", model: "gpt-realtime-2.1",
			u: RealtimeUsage{InputTokens: 500, TotalTokens: 500, InputTokenDetails: InputTokenDetails{AudioTokens: 500, CachedTokens: 500}}, want: 16_000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := price(t, tt.model).Realtime.Cost(tt.u)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("cost = %s ($%d µ), want %s", got, got, tt.want)
			}
		})
	}
}

func TestRealtimeCostRefusesImpossibleUsage(t *testing.T) {
	p := price(t, "gpt-realtime-2.1").Realtime
	for name, u := range map[string]RealtimeUsage{
		"negative tokens":            {InputTokens: -1},
		"more cached than text":      usage(10, 11, 0, 0, 0, 0, 0, 0),
		"more cached than audio":     usage(0, 0, 10, 11, 0, 0, 0, 0),
		"absurd count":               {OutputTokens: maxTokens + 1},
		"negative output audio":      {OutputTokenDetails: OutputTokenDetails{AudioTokens: -5}},
		"negative cached image part": {InputTokenDetails: InputTokenDetails{CachedTokensDetails: CachedTokensDetails{ImageTokens: -1}}},
	} {
		if _, err := p.Cost(u); !errors.Is(err, ErrBadUsage) {
			t.Errorf("%s: err = %v, want ErrBadUsage", name, err)
		}
	}
}

// TestRealtimeUsageDecodesResponseDone: the usage type reads response.done's
// response.usage as OpenAI documents it.
func TestRealtimeUsageDecodesResponseDone(t *testing.T) {
	raw := `{"total_tokens":2700,"input_tokens":2000,"output_tokens":700,
	 "input_token_details":{"text_tokens":1200,"audio_tokens":800,"image_tokens":0,"cached_tokens":1500,
	   "cached_tokens_details":{"text_tokens":1000,"audio_tokens":500,"image_tokens":0}},
	 "output_token_details":{"text_tokens":100,"audio_tokens":600}}`
	var u RealtimeUsage
	if err := json.Unmarshal([]byte(raw), &u); err != nil {
		t.Fatal(err)
	}
	if u != usage(1200, 1000, 800, 500, 0, 0, 100, 600) {
		t.Fatalf("decoded %+v", u)
	}
}

// TestLiveCost checks the per-second Live price and the creation charge
// against hand-computed figures.
func TestLiveCost(t *testing.T) {
	tests := []struct {
		name            string
		model           string
		active, standby time.Duration
		want            Micros
	}{
		// gpt-live-1 at $0.05/min. Created, never run: 15 s billed,
		// 15/60 × $0.05 = $0.012500.
		{"created and never run pays the creation charge", "gpt-live-1", 0, 0, 12_500},
		// 10 s run: still the 15 s creation charge, $0.012500.
		{"a short session pays the creation charge", "gpt-live-1", 10 * time.Second, 0, 12_500},
		// 90 s: the creation charge is credited: 90/60 × $0.05 = $0.075000
		// (not 105 s).
		{"a 90-second session costs 90 seconds", "gpt-live-1", 90 * time.Second, 0, 75_000},
		// 61.5 s: 61.5/60 × $0.05 = $0.05125.
		{"billed per second, not per minute", "gpt-live-1", 61500 * time.Millisecond, 0, 51_250},
		// 1 ms past 15 s: 15.001/60 × 0.05 = $0.01250083… → $0.012501.
		{"a fraction of a micro-dollar rounds up", "gpt-live-1", 15001 * time.Millisecond, 0, 12_501},
		// gpt-live-1.1: 60 s active × $0.05/min + 120 s standby × $0.02/min
		// = $0.05 + $0.04 = $0.090000.
		{"standby at its own rate", "gpt-live-1.1", time.Minute, 2 * time.Minute, 90_000},
		// An hour of gpt-live-1: 60 × $0.05 = $3.000000.
		{"an hour", "gpt-live-1", time.Hour, 0, 3 * Dollar},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := price(t, tt.model).Live.Cost(tt.active, tt.standby); got != tt.want {
				t.Errorf("cost = %s, want %s", got, tt.want)
			}
		})
	}
	if got := price(t, "gpt-live-1").Live.CreationCharge(); got != 12_500 {
		t.Errorf("creation charge = %s, want 0.0125", got)
	}
}

// TestLiveStepsSumToTheTotal: charging the difference of cumulative costs
// at every usage event adds up to the session's cost, with no rounding
// drift however many steps there are.
func TestLiveStepsSumToTheTotal(t *testing.T) {
	p := price(t, "gpt-live-1").Live
	var charged Micros
	prev := time.Duration(0)
	charged += p.Cost(0, 0) // at creation
	for ms := int64(0); ms <= 3_600_000; ms += 1_017 {
		cur := time.Duration(ms) * time.Millisecond
		charged += p.Cost(cur, 0) - p.Cost(prev, 0)
		prev = cur
	}
	if want := p.Cost(prev, 0); charged != want {
		t.Fatalf("steps sum to %s, the session costs %s", charged, want)
	}
}

func TestSeconds(t *testing.T) {
	for in, want := range map[float64]time.Duration{0: 0, 1.5: 1500 * time.Millisecond, 0.0004: 0, 0.0006: time.Millisecond, 90.25: 90250 * time.Millisecond} {
		got, err := Seconds(in)
		if err != nil || got != want {
			t.Errorf("Seconds(%v) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []float64{-1, 40 * 24 * 3600} {
		if _, err := Seconds(bad); !errors.Is(err, ErrBadUsage) {
			t.Errorf("Seconds(%v) err = %v", bad, err)
		}
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileAddsAndOverrides(t *testing.T) {
	path := writeFile(t, `{"models": {
	  "gpt-realtime-2.1": {"kind": "realtime",
	    "text": {"input": "3.20", "cached_input": 0.32, "output": 19.2},
	    "audio": {"input": 25.6, "cached_input": 0.32, "output": 51.2}},
	  "gpt-live-2": {"kind": "live", "per_minute": 0.04, "creation_seconds": 10}}}`)
	tab, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A negotiated 20% discount on gpt-realtime-2.1, no image price given:
	// 1000 audio in × $25.6/M = $0.025600; 1000 image tokens as text
	// 1000 × $3.20/M = $0.003200. Total $0.028800.
	p, _ := tab.Lookup("gpt-realtime-2.1")
	got, err := p.Realtime.Cost(usage(0, 0, 1000, 0, 1000, 0, 0, 0))
	if err != nil || got != 28_800 {
		t.Errorf("overridden price: %s, %v; want 0.0288", got, err)
	}
	// A new live model: 10 s creation at $0.04/min = $0.006667 (rounded up).
	l, ok := tab.Lookup("gpt-live-2")
	if !ok || l.Kind != Live || l.Live.CreationCharge() != 6_667 {
		t.Errorf("new model: %+v", l)
	}
	// Built-in models the file does not name keep their prices.
	if _, ok := tab.Lookup("gpt-live-1"); !ok {
		t.Error("gpt-live-1 lost")
	}
	if _, ok := Builtin().Lookup("gpt-live-2"); ok {
		t.Error("LoadFile changed the built-in table")
	}
}

func TestLoadFileRefusesBadFiles(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"not JSON", `{"models":`, "not a valid prices file"},
		{"no models", `{}`, `no "models"`},
		{"unknown top-level member", `{"models":{}, "currency":"EUR"}`, "unknown field"},
		{"unknown model member", `{"models":{"m":{"kind":"live","per_minute":1,"creation_seconds":15,"per_hour":60}}}`, "unknown field"},
		{"missing kind", `{"models":{"m":{"per_minute":1}}}`, "kind is required"},
		{"bad kind", `{"models":{"m":{"kind":"batch"}}}`, `kind must be`},
		{"realtime without audio", `{"models":{"m":{"kind":"realtime","text":{"input":1,"cached_input":1,"output":1}}}}`, "audio needs"},
		{"realtime missing a rate", `{"models":{"m":{"kind":"realtime","text":{"input":1,"output":1},"audio":{"input":1,"cached_input":1,"output":1}}}}`, "text needs"},
		{"live rates on a realtime model", `{"models":{"m":{"kind":"realtime","per_minute":1}}}`, "no per_minute"},
		{"token rates on a live model", `{"models":{"m":{"kind":"live","per_minute":1,"creation_seconds":15,"text":{}}}}`, "no text"},
		{"live without creation", `{"models":{"m":{"kind":"live","per_minute":0.05}}}`, "creation_seconds is required"},
		{"negative price", `{"models":{"m":{"kind":"live","per_minute":-0.05,"creation_seconds":15}}}`, "not a dollar amount"},
		{"exponent", `{"models":{"m":{"kind":"live","per_minute":5e-2,"creation_seconds":15}}}`, "not a dollar amount"},
		{"too many decimals", `{"models":{"m":{"kind":"live","per_minute":0.0000001,"creation_seconds":15}}}`, "six decimals"},
		{"absurd rate", `{"models":{"m":{"kind":"live","per_minute":500,"creation_seconds":15}}}`, "above"},
		{"null price", `{"models":{"m":{"kind":"live","per_minute":null,"creation_seconds":15}}}`, "per_minute is required"},
		{"bad model name", `{"models":{"gpt realtime":{"kind":"live","per_minute":1,"creation_seconds":15}}}`, "not a model name"},
		{"duplicate model", `{"models":{"m":{"kind":"live","per_minute":1,"creation_seconds":15},"m":{"kind":"live","per_minute":0,"creation_seconds":15}}}`, "twice"},
		{"duplicate member", `{"models":{"m":{"kind":"live","per_minute":1,"per_minute":0,"creation_seconds":15}}}`, "twice"},
		{"trailing data", `{"models":{}} {}`, "after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFile(writeFile(t, tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing file loads")
	}
	big := writeFile(t, `{"models":{}}`+strings.Repeat(" ", maxFileBytes))
	if _, err := LoadFile(big); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Errorf("oversize file: %v", err)
	}
}

func TestBuiltinCoversTheCurrentModels(t *testing.T) {
	tab := Builtin()
	for model, kind := range map[string]Kind{"gpt-realtime": Realtime, "gpt-realtime-1.5": Realtime, "gpt-realtime-2": Realtime,
		"gpt-realtime-2.1": Realtime, "gpt-realtime-2.1-mini": Realtime, "gpt-live-1": Live, "gpt-live-1.1": Live} {
		p, ok := tab.Lookup(model)
		if !ok || p.Kind != kind || (kind == Realtime) != (p.Realtime != nil) || (kind == Live) != (p.Live != nil) {
			t.Errorf("%s: %+v", model, p)
		}
	}
	if got := len(tab.Models()); got != 7 {
		t.Errorf("%d models", got)
	}
}

// FuzzParseUSD: whatever ParseUSD accepts is within bounds and survives a
// round trip through String.
func FuzzParseUSD(f *testing.F) {
	for _, s := range []string{"0", "12.5", ".000001", "1000000000", "1e3", "-1", "0.0000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseUSD(s)
		if err != nil {
			return
		}
		if m < 0 || m > MaxUSD {
			t.Fatalf("%q → %d out of bounds", s, m)
		}
		back, err := ParseUSD(m.String())
		if err != nil || back != m {
			t.Fatalf("%q → %s → %d, %v", s, m, back, err)
		}
	})
}

// FuzzParse: a prices file never panics the parser, and whatever it
// accepts prices any usage without overflow (costs stay non-negative).
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"models":{"m":{"kind":"live","per_minute":100,"creation_seconds":3600}}}`))
	f.Add([]byte(`{"models":{"m":{"kind":"realtime","text":{"input":1000,"cached_input":1000,"output":1000},"audio":{"input":1000,"cached_input":0,"output":1000},"image":{"input":1000,"cached_input":1}}}}`))
	f.Add([]byte(`{"models":{"m":{},"m":{}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := Parse(b)
		if err != nil {
			return
		}
		huge := usage(maxTokens, 0, maxTokens, 0, maxTokens, 0, maxTokens, maxTokens)
		huge.InputTokens, huge.OutputTokens = maxTokens, maxTokens
		for _, p := range ps {
			switch p.Kind {
			case Realtime:
				if c, err := p.Realtime.Cost(huge); err != nil || c < 0 {
					t.Fatalf("%s: %d, %v", p.Model, c, err)
				}
			case Live:
				if c := p.Live.Cost(maxLive, maxLive); c < 0 {
					t.Fatalf("%s: %d", p.Model, c)
				}
			default:
				t.Fatalf("kind %q accepted", p.Kind)
			}
		}
	})
}
