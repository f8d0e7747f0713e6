package config

import (
	"encoding/json"

	"github.com/rtgate/rtgate/internal/sessioncfg"
)

// loadSession reads SESSION_CONFIG_FILE (the server's session beyond model,
// voice and instructions) and validates it against the environment, so
// `rtgate config check` and start-up refuse the same files.
func (p *parser) loadSession(c *Config) {
	c.SessionConfigFile = p.str("SESSION_CONFIG_FILE", "")
	s, err := sessioncfg.Load(c.SessionConfigFile, c.SessionEnv())
	if err == nil && c.Control.LiveModel == "" && !liveModelSet(s) {
		// Neither LIVE_MODEL nor the file names the Live model: the
		// default, as if LIVE_MODEL had been given.
		c.Control.LiveModel = DefaultLiveModel
		s, err = sessioncfg.Load(c.SessionConfigFile, c.SessionEnv())
	}
	if err != nil {
		p.errs = append(p.errs, err) // names SESSION_CONFIG_FILE, the file and each JSON path
		return
	}
	for _, w := range s.Warnings() {
		p.warn(sessioncfg.Var + " " + c.SessionConfigFile + ": " + w)
	}
	c.Session = s
}

// liveModelSet reports whether the Live session s renders names a model.
func liveModelSet(s *sessioncfg.Config) bool {
	var live struct {
		Model string `json:"model"`
	}
	return json.Unmarshal(s.Live(), &live) == nil && live.Model != ""
}

// SessionEnv is what the environment sets in the sessions: a field set here
// cannot also be set in SESSION_CONFIG_FILE. REALTIME_MODEL and
// REALTIME_VOICE always have a value, so the file never sets the Realtime
// model or voice; REALTIME_INSTRUCTIONS only when it is not empty. The Live
// part takes LIVE_MODEL, LIVE_VOICE and LIVE_INSTRUCTIONS when they are set;
// without LIVE_MODEL the file may name the model, else it is
// DefaultLiveModel.
func (c *Config) SessionEnv() sessioncfg.Env {
	return sessioncfg.Env{
		Realtime: sessioncfg.Base{
			Model:        sessioncfg.Setting{Var: "REALTIME_MODEL", Value: c.RealtimeModel},
			Voice:        sessioncfg.Setting{Var: "REALTIME_VOICE", Value: c.RealtimeVoice},
			Instructions: sessioncfg.Setting{Var: "REALTIME_INSTRUCTIONS", Value: c.RealtimeInstructions},
		},
		Live: sessioncfg.Base{
			Model:        sessioncfg.Setting{Var: "LIVE_MODEL", Value: c.Control.LiveModel},
			Voice:        sessioncfg.Setting{Var: "LIVE_VOICE", Value: c.Control.LiveVoice},
			Instructions: sessioncfg.Setting{Var: "LIVE_INSTRUCTIONS", Value: c.Control.LiveInstructions},
		},
	}
}
