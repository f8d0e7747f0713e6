package config

import (
	"fmt"
	"strconv"
	"time"
)

// Session-control policies (SESSION_POLICY).
const (
	SessionPolicyRevert = "revert"
	SessionPolicyHangup = "hangup"
)

// ControlConfig holds GPT-Live's server session and the sideband control
// of every proxied call (docs/session-control.md).
type ControlConfig struct {
	// LiveModel, LiveVoice and LiveInstructions are the environment's part
	// of the GPT-Live session (LIVE_MODEL, LIVE_VOICE, LIVE_INSTRUCTIONS),
	// "" when unset: the session file's live.*, else OpenAI's defaults
	// (voice marin) — but LiveModel is DefaultLiveModel when neither sets
	// it.
	LiveModel        string
	LiveVoice        string
	LiveInstructions string
	// Policy is what a change of the server's session leads to
	// (SESSION_POLICY): SessionPolicyRevert or SessionPolicyHangup.
	Policy string
	// Idle ends a call with no speech and no response for that long
	// (SESSION_IDLE_SECONDS); 0 is off.
	Idle time.Duration
	// AttachTimeout bounds one sideband handshake
	// (SIDEBAND_ATTACH_TIMEOUT_MS).
	AttachTimeout time.Duration
	// Retries and RetryDelay: a lost sideband is re-dialled at once, then
	// Retries more times after RetryDelay, doubling, before the call is
	// hung up (SIDEBAND_RETRIES, SIDEBAND_RETRY_DELAY_MS).
	Retries    int
	RetryDelay time.Duration
}

// loadLive reads the GPT-Live session's variables, which SessionEnv hands
// to the session file's renderer: a variable that is set cannot also be set
// in the file. Without LIVE_MODEL and a model in the file, loadSession puts
// in DefaultLiveModel.
func (p *parser) loadLive(c *Config) {
	k := &c.Control
	if p.str("LIVE_MODEL", "") != "" {
		k.LiveModel = p.token("LIVE_MODEL", "")
	}
	if p.str("LIVE_VOICE", "") != "" {
		k.LiveVoice = p.token("LIVE_VOICE", "")
	}
	k.LiveInstructions = p.getenv("LIVE_INSTRUCTIONS")
	if len(k.LiveInstructions) > 16384 {
		p.fail("LIVE_INSTRUCTIONS", "must be at most 16384 bytes")
	}
}

// DefaultLiveModel is LIVE_MODEL's default.
const DefaultLiveModel = "gpt-live-1"

func (p *parser) loadControl(c *Config) {
	k := &c.Control
	k.Policy = p.enum("SESSION_POLICY", SessionPolicyRevert, SessionPolicyRevert, SessionPolicyHangup)
	k.Idle = time.Duration(p.integer("SESSION_IDLE_SECONDS", 0, 0, 86400)) * time.Second
	k.AttachTimeout = p.millis("SIDEBAND_ATTACH_TIMEOUT_MS", 5000, 100, 60000)
	k.Retries = p.integer("SIDEBAND_RETRIES", 3, 1, 20)
	k.RetryDelay = p.millis("SIDEBAND_RETRY_DELAY_MS", 1000, 10, 60000)
	if c.Auth.SessionMax > 0 && k.Idle >= c.Auth.SessionMax {
		p.warn(fmt.Sprintf("SESSION_IDLE_SECONDS (%d) is not below USER_SESSION_MAX_SECONDS (%d): the idle timeout never fires", int(k.Idle/time.Second), int(c.Auth.SessionMax/time.Second)))
	}
}

func (c *Config) maskedControl() [][2]string {
	k := c.Control
	return [][2]string{
		{"LIVE_MODEL", orNone(k.LiveModel)},
		{"LIVE_VOICE", orNone(k.LiveVoice)},
		{"LIVE_INSTRUCTIONS", fmt.Sprintf("(%d bytes)", len(k.LiveInstructions))},
		{"SESSION_POLICY", k.Policy},
		{"SESSION_IDLE_SECONDS", strconv.Itoa(int(k.Idle / time.Second))},
		{"SIDEBAND_ATTACH_TIMEOUT_MS", ms(k.AttachTimeout)},
		{"SIDEBAND_RETRIES", strconv.Itoa(k.Retries)},
		{"SIDEBAND_RETRY_DELAY_MS", ms(k.RetryDelay)},
	}
}

// orNone shows an unset value as such.
func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}
