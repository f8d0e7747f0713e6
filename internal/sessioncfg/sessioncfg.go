// Package sessioncfg is the server's side of every session rtgate creates:
// the Realtime session sent with each mint (POST /v1/realtime/client_secrets)
// and each proxied call (POST /v1/realtime/calls), and the GPT-Live
// MediaSessionConfig sent with each live session (POST /v1/live/sessions).
//
// The sessions come from the environment (model, voice, instructions) and
// from an optional JSON file, SESSION_CONFIG_FILE, with a "realtime" and a
// "live" part in OpenAI's own shapes (openai-go v3.99.0 packages realtime
// and live). The file is validated strictly when it is loaded: an unknown
// member, a wrong type, a value outside its enum or limits, or a field that
// the environment already sets is an error naming the JSON path. Each of
// model, voice and instructions comes from exactly one place.
//
// A Config is immutable. Sessions holds the current one and swaps it
// atomically on Reload (SIGHUP); a file that fails validation leaves the
// previous Config in force. Locks says which fields of a running Realtime
// session are the server's, and how to put them back (locks.go).
package sessioncfg

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
)

// Var is the environment variable that names the session file.
const Var = "SESSION_CONFIG_FILE"

// MaxFileBytes bounds the session file.
const MaxFileBytes = 1 << 20

// Setting is one value the environment gives, with its variable's name for
// messages.
type Setting struct {
	Var   string // e.g. "REALTIME_INSTRUCTIONS"
	Value string // "" when the variable is unset
}

// Base is what the environment sets for one API's session. A field set here
// cannot also be set in the file.
type Base struct {
	Model, Voice, Instructions Setting
}

// Env is the environment's part of both sessions. Its values are validated
// where the variables are parsed (internal/config), not here.
type Env struct {
	Realtime Base
	Live     Base
}

// Error is a session file that cannot be used: every problem found, each
// with its JSON path.
type Error struct {
	File     string
	Problems []Problem
}

// Error lists the problems one a line, each naming SESSION_CONFIG_FILE, the
// file and the JSON path.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = Var + " " + e.File + ": " + p.String()
	}
	return strings.Join(lines, "\n")
}

// Config is the environment's values and one validated session file. It is
// never changed once loaded and is safe for concurrent use.
type Config struct {
	file     string
	sum      [32]byte // of the file's bytes; zero without a file
	env      Env
	realtime map[string]any // the file's realtime part (never mutated)
	liveJSON []byte         // the rendered MediaSessionConfig
	warnings []string

	// rendered caches Realtime's output by model and voice: the callers
	// pass allowlisted values, and maxRendered bounds it regardless.
	mu       sync.Mutex
	rendered map[[2]string][]byte
}

// maxRendered bounds the render cache of one Config.
const maxRendered = 64

// Load reads and validates file ("" for none: the sessions come from env
// alone). The error is an *Error for a file that is read but not usable.
func Load(file string, env Env) (*Config, error) {
	if file == "" {
		return Parse("", nil, env)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, &Error{File: file, Problems: []Problem{{Message: "cannot be read: " + unwrapPathError(err)}}}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &Error{File: file, Problems: []Problem{{Message: "cannot be read: " + unwrapPathError(err)}}}
	}
	if len(data) > MaxFileBytes {
		return nil, &Error{File: file, Problems: []Problem{{Message: fmt.Sprintf("is larger than %d bytes", MaxFileBytes)}}}
	}
	return Parse(file, data, env)
}

func unwrapPathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Parse validates data, the contents of file (nil data: no file).
func Parse(file string, data []byte, env Env) (*Config, error) {
	c := &checker{}
	cfg := &Config{file: file, env: env, realtime: map[string]any{}}
	live := map[string]any{}
	if data != nil {
		cfg.sum = sha256.Sum256(data)
		root, err := decodeStrict(data)
		if err != nil {
			return nil, &Error{File: file, Problems: []Problem{{Message: err.Error()}}}
		}
		object(
			opt("realtime", object(realtimeMembers(env.Realtime)...)),
			opt("live", object(liveMembers(env.Live)...)),
		)(c, "", root)
		if len(c.problems) == 0 {
			m := root.(map[string]any)
			if rt, ok := m["realtime"].(map[string]any); ok {
				cfg.realtime = rt
				checkRealtimeRefs(c, "realtime", rt)
			}
			if lv, ok := m["live"].(map[string]any); ok {
				live = lv
			}
		}
	}
	if len(c.problems) > 0 {
		return nil, &Error{File: file, Problems: c.problems}
	}
	cfg.warnings = c.warnings
	var err error
	if cfg.liveJSON, err = json.Marshal(renderLive(live, env.Live)); err != nil {
		return nil, &Error{File: file, Problems: []Problem{{Path: "live", Message: err.Error()}}}
	}
	return cfg, nil
}

// File is the session file's path ("" when there is none).
func (c *Config) File() string { return c.file }

// Warnings are what start-up should log: valid but questionable choices,
// such as a model with an announced shutdown.
func (c *Config) Warnings() []string { return slices.Clone(c.warnings) }

// Same reports whether o was loaded from the same bytes and environment.
func (c *Config) Same(o *Config) bool {
	return o != nil && c.file == o.file && c.sum == o.sum && c.env == o.env
}

// Realtime renders the GA Realtime session object for one mint or call:
// type "realtime", model and voice (the server's defaults or the client's
// allowlisted choice: the caller decides), the instructions from the
// environment or the file, and everything else from the file. It is what
// POST /v1/realtime/client_secrets takes as "session" and POST
// /v1/realtime/calls as its "session" part.
func (c *Config) Realtime(model, voice string) (json.RawMessage, error) {
	key := [2]string{model, voice}
	c.mu.Lock()
	b, ok := c.rendered[key]
	c.mu.Unlock()
	if ok {
		return slices.Clone(b), nil
	}
	b, err := json.Marshal(c.realtimeSession(model, voice))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.rendered == nil {
		c.rendered = map[[2]string][]byte{}
	}
	if len(c.rendered) < maxRendered {
		c.rendered[key] = b
	}
	c.mu.Unlock()
	return slices.Clone(b), nil
}

// realtimeSession is the session Realtime renders, as a fresh top level over
// the file's (shared, never mutated) values.
func (c *Config) realtimeSession(model, voice string) map[string]any {
	s := maps.Clone(c.realtime)
	s["type"] = "realtime"
	s["model"] = model
	if v := c.env.Realtime.Instructions.Value; v != "" {
		s["instructions"] = v
	}
	if voice != "" {
		audio, _ := s["audio"].(map[string]any)
		audio = maps.Clone(audio)
		if audio == nil {
			audio = map[string]any{}
		}
		out, _ := audio["output"].(map[string]any)
		out = maps.Clone(out)
		if out == nil {
			out = map[string]any{}
		}
		out["voice"] = voice
		audio["output"] = out
		s["audio"] = audio
	}
	return s
}

// Live renders the GPT-Live MediaSessionConfig for POST /v1/live/sessions
// ("session"): model, voice and instructions from the environment or the
// file, the rest from the file, and, when the file sets no live.client, a
// data channel that lets the browser only mute, unmute and close
// (DefaultLiveClientEvents). The caller may keep the result.
func (c *Config) Live() json.RawMessage { return slices.Clone(c.liveJSON) }

// renderLive builds the MediaSessionConfig from the file's live part.
func renderLive(file map[string]any, env Base) map[string]any {
	s := maps.Clone(file)
	if v := env.Model.Value; v != "" {
		s["model"] = v
	}
	if v := env.Instructions.Value; v != "" {
		s["instructions"] = v
	}
	if v := env.Voice.Value; v != "" {
		audio, _ := s["audio"].(map[string]any)
		audio = maps.Clone(audio)
		if audio == nil {
			audio = map[string]any{}
		}
		audio["output"] = map[string]any{"voice": v}
		s["audio"] = audio
	}
	if _, ok := s["client"]; !ok {
		s["client"] = map[string]any{"data_channel": map[string]any{
			"allowed_client_events": toAny(DefaultLiveClientEvents),
		}}
	}
	return s
}

func toAny(ss []string) []any {
	a := make([]any, len(ss))
	for i, s := range ss {
		a[i] = s
	}
	return a
}
