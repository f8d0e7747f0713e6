package pricing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// Table is a set of model prices. It is immutable once built and safe for
// concurrent use.
type Table struct {
	prices map[string]Price
}

// Lookup returns model's price.
func (t *Table) Lookup(model string) (Price, bool) {
	if t == nil {
		return Price{}, false
	}
	p, ok := t.prices[model]
	return p, ok
}

// Models lists the priced models, sorted.
func (t *Table) Models() []string { return slices.Sorted(maps.Keys(t.prices)) }

// LiveCreation is the Live creation charge: OpenAI bills this much of a
// session when it is created and credits it against the session's duration.
const LiveCreation = 15 * time.Second

// usd reads a price literal of the built-in table; the literals are
// constants, so a typo panics in every test.
func usd(s string) Micros {
	m, err := ParseUSD(s)
	if err != nil {
		panic(err)
	}
	return m
}

func realtime(model string, text, audio TokenRates, image *TokenRates) Price {
	p := &RealtimePrice{Text: text, Audio: audio}
	if image != nil {
		p.Image, p.HasImage = *image, true
	}
	return Price{Model: model, Kind: Realtime, Realtime: p}
}

func rates(in, cached, out string) TokenRates {
	return TokenRates{Input: usd(in), CachedInput: usd(cached), Output: usd(out)}
}

// Builtin returns OpenAI's list prices for the current realtime and live
// models (OpenAI's model pages, 2026-11-30; docs/budgets.md has the table).
// gpt-realtime's audio prices were not re-verified then; gpt-realtime and
// gpt-realtime-1.5 have no image price listed (image tokens are priced as
// text there).
func Builtin() *Table {
	v2 := func(model string) Price {
		return realtime(model, rates("4", "0.40", "24"), rates("32", "0.40", "64"), &TokenRates{Input: usd("5"), CachedInput: usd("0.50")})
	}
	ps := []Price{
		realtime("gpt-realtime", rates("4", "0.40", "16"), rates("32", "0.40", "64"), nil),
		realtime("gpt-realtime-1.5", rates("4", "0.40", "16"), rates("32", "0.40", "64"), &TokenRates{Input: usd("5"), CachedInput: usd("0.50")}),
		v2("gpt-realtime-2"),
		v2("gpt-realtime-2.1"),
		realtime("gpt-realtime-2.1-mini", rates("0.60", "0.06", "2.40"), rates("10", "0.30", "20"), &TokenRates{Input: usd("0.80"), CachedInput: usd("0.08")}),
		{Model: "gpt-live-1", Kind: Live, Live: &LivePrice{PerMinute: usd("0.05"), Creation: LiveCreation}},
		{Model: "gpt-live-1.1", Kind: Live, Live: &LivePrice{PerMinute: usd("0.05"), StandbyPerMinute: usd("0.02"), Creation: LiveCreation}},
	}
	t := &Table{prices: map[string]Price{}}
	for _, p := range ps {
		t.prices[p.Model] = p
	}
	return t
}

// With returns a table holding t's prices with those of over added or
// replacing t's, model by model.
func (t *Table) With(over map[string]Price) *Table {
	out := &Table{prices: maps.Clone(t.prices)}
	maps.Copy(out.prices, over)
	return out
}

// maxFileBytes bounds a PRICES_FILE.
const maxFileBytes = 1 << 20

// LoadFile returns the built-in table with the prices of the PRICES_FILE
// at path added or replacing built-in ones (see Parse for the format).
// Errors say where in the file the problem is; the caller names the
// variable and the path.
func LoadFile(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("is larger than %d bytes", maxFileBytes)
	}
	over, err := Parse(b)
	if err != nil {
		return nil, err
	}
	return Builtin().With(over), nil
}

// fileTokenRates is one modality in a prices file; every rate is required.
type fileTokenRates struct {
	Input       *Micros `json:"input"`
	CachedInput *Micros `json:"cached_input"`
	Output      *Micros `json:"output"`
}

type fileImageRates struct {
	Input       *Micros `json:"input"`
	CachedInput *Micros `json:"cached_input"`
}

type fileModel struct {
	Kind Kind `json:"kind"`
	// Realtime.
	Text  *fileTokenRates `json:"text"`
	Audio *fileTokenRates `json:"audio"`
	Image *fileImageRates `json:"image"`
	// Live.
	PerMinute        *Micros `json:"per_minute"`
	StandbyPerMinute *Micros `json:"standby_per_minute"`
	CreationSeconds  *int    `json:"creation_seconds"`
}

type file struct {
	Models map[string]json.RawMessage `json:"models"`
}

// Parse reads a prices file: a JSON object with one member, "models", that
// maps model names to prices. Dollar amounts are JSON numbers or strings
// with at most six decimals, read exactly.
//
//	{"models": {
//	  "gpt-realtime-2.1": {"kind": "realtime",
//	    "text":  {"input": 4, "cached_input": 0.40, "output": 24},
//	    "audio": {"input": 32, "cached_input": 0.40, "output": 64},
//	    "image": {"input": 5, "cached_input": 0.50}},
//	  "gpt-live-1.1": {"kind": "live", "per_minute": 0.05,
//	    "standby_per_minute": 0.02, "creation_seconds": 15}}}
//
// Token prices are dollars per million tokens; "image" is optional (image
// tokens are then priced as text). Live prices are dollars per minute;
// "standby_per_minute" is optional (standby is then billed as active) and
// "creation_seconds" (what OpenAI bills at creation and credits against
// the duration; 15 for today's models) is required. Unknown members,
// missing rates, members of the other kind, duplicate keys and trailing
// data are errors.
func Parse(b []byte) (map[string]Price, error) {
	var f file
	if err := strictDecode(b, &f); err != nil {
		return nil, err
	}
	if f.Models == nil {
		return nil, errors.New(`has no "models" object`)
	}
	out := map[string]Price{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(f.Models)) {
		p, err := parseModel(name, f.Models[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("models.%s: %w", name, err))
			continue
		}
		out[name] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func strictDecode(b []byte, v any) error {
	if err := checkNoDuplicateKeys(b); err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("is not a valid prices file: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("has data after the JSON object")
	}
	return nil
}

// checkNoDuplicateKeys walks b's tokens and refuses an object with the same
// key twice: encoding/json would silently keep the last one.
func checkNoDuplicateKeys(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	type frame struct {
		keys     map[string]bool
		isObject bool
		wantKey  bool
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("is not valid JSON: %w", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.isObject && top.wantKey {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return fmt.Errorf("has the key %q twice in one object", k)
				}
				top.keys[k] = true
				top.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, isObject: true, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value completed: the enclosing object expects a key next.
		if len(stack) > 0 && stack[len(stack)-1].isObject {
			stack[len(stack)-1].wantKey = true
		}
	}
}

func parseModel(name string, raw json.RawMessage) (Price, error) {
	if !ValidModel(name) {
		return Price{}, errors.New("is not a model name (1-64 characters of [A-Za-z0-9._:-])")
	}
	var m fileModel
	if err := strictDecode(raw, &m); err != nil {
		return Price{}, err
	}
	switch m.Kind {
	case Realtime:
		if m.PerMinute != nil || m.StandbyPerMinute != nil || m.CreationSeconds != nil {
			return Price{}, errors.New(`a realtime model has no per_minute, standby_per_minute or creation_seconds (those are "live")`)
		}
		var errs []error
		text, err := m.Text.rates("text")
		errs = append(errs, err)
		audio, err := m.Audio.rates("audio")
		errs = append(errs, err)
		p := &RealtimePrice{Text: text, Audio: audio}
		if m.Image != nil {
			if m.Image.Input == nil || m.Image.CachedInput == nil {
				errs = append(errs, errors.New("image needs input and cached_input"))
			} else {
				p.Image, p.HasImage = TokenRates{Input: *m.Image.Input, CachedInput: *m.Image.CachedInput}, true
				errs = append(errs, checkRate("image.input", p.Image.Input, MaxTokenRate), checkRate("image.cached_input", p.Image.CachedInput, MaxTokenRate))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return Price{}, err
		}
		return Price{Model: name, Kind: Realtime, Realtime: p}, nil
	case Live:
		if m.Text != nil || m.Audio != nil || m.Image != nil {
			return Price{}, errors.New(`a live model has no text, audio or image rates (those are "realtime")`)
		}
		if m.PerMinute == nil {
			return Price{}, errors.New("per_minute is required")
		}
		if m.CreationSeconds == nil {
			return Price{}, errors.New("creation_seconds is required (OpenAI bills 15 s at creation for today's models)")
		}
		if *m.CreationSeconds < 0 || *m.CreationSeconds > 3600 {
			return Price{}, errors.New("creation_seconds must be between 0 and 3600")
		}
		p := &LivePrice{PerMinute: *m.PerMinute, Creation: time.Duration(*m.CreationSeconds) * time.Second}
		if m.StandbyPerMinute != nil {
			p.StandbyPerMinute = *m.StandbyPerMinute
		}
		if err := errors.Join(checkRate("per_minute", p.PerMinute, MaxMinuteRate), checkRate("standby_per_minute", p.StandbyPerMinute, MaxMinuteRate)); err != nil {
			return Price{}, err
		}
		return Price{Model: name, Kind: Live, Live: p}, nil
	case "":
		return Price{}, errors.New(`kind is required ("realtime" or "live")`)
	}
	return Price{}, fmt.Errorf(`kind must be "realtime" or "live", not %q`, m.Kind)
}

func (r *fileTokenRates) rates(name string) (TokenRates, error) {
	if r == nil || r.Input == nil || r.CachedInput == nil || r.Output == nil {
		return TokenRates{}, fmt.Errorf("%s needs input, cached_input and output", name)
	}
	t := TokenRates{Input: *r.Input, CachedInput: *r.CachedInput, Output: *r.Output}
	return t, errors.Join(checkRate(name+".input", t.Input, MaxTokenRate), checkRate(name+".cached_input", t.CachedInput, MaxTokenRate),
		checkRate(name+".output", t.Output, MaxTokenRate))
}

func checkRate(name string, m, maxRate Micros) error {
	if m > maxRate {
		return fmt.Errorf("%s is %s, above the %s rtgate accepts", name, m, maxRate)
	}
	return nil
}

// ValidModel reports whether s can be a model name: 1 to 64 ASCII letters,
// digits and "._:-" (the rule REALTIME_MODEL follows).
func ValidModel(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._:-", c) >= 0) {
			return false
		}
	}
	return true
}
