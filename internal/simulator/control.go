package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"time"
)

// controlPrefix is where the simulator's own control endpoints live. They are
// not OpenAI endpoints; they let a test in another process script a session.
const controlPrefix = "/_simulator"

// Errors of the scripting methods.
var (
	// ErrUnknownSession: no running session of the needed kind has that id.
	ErrUnknownSession = errors.New("simulator: no running session with that id")
	// ErrTurnDetectionOff: the call's session has turn_detection null.
	ErrTurnDetectionOff = errors.New("simulator: the call's turn detection is off")
	// ErrSpeaking: the call's voice activity detection is inside a turn.
	ErrSpeaking = errors.New("simulator: the caller is speaking")
)

// EmitResponse makes a Realtime call emit a whole response (response.created,
// rate_limits.updated, response.output_item.added and .done, response.done)
// whose response.done carries exactly usage (totals left at zero are filled
// from the details). The conversation is not changed. It returns the
// response id.
func (s *Simulator) EmitResponse(callID string, usage Usage) (string, error) {
	ss := s.session(callID, KindRealtime)
	if ss == nil {
		return "", ErrUnknownSession
	}
	var id string
	ss.do(func() {
		if !ss.ended {
			id = ss.respondLocked(0, &usage, "")
		}
	})
	if id == "" {
		return "", ErrUnknownSession
	}
	return id, nil
}

// SimulateTurn makes a Realtime call behave as if the caller was silent for
// the prefix padding, spoke for speech and then fell silent: speech_started,
// speech_stopped, committed, the user item, and (unless
// turn_detection.create_response is false) a response that echoes the speech,
// with usage computed as for a real turn (the buffer is prefix padding +
// speech + silence duration). The call's audio clock moves on by as much.
func (s *Simulator) SimulateTurn(callID string, speech time.Duration) error {
	ss := s.session(callID, KindRealtime)
	if ss == nil {
		return ErrUnknownSession
	}
	err := ErrUnknownSession
	ss.do(func() {
		if ss.ended {
			return
		}
		typ, prefix, silence, create := ss.vad()
		rt := ss.rt
		switch {
		case typ == "":
			err = ErrTurnDetectionOff
			return
		case rt.speaking:
			err = ErrSpeaking
			return
		}
		// Silence as long as the prefix padding, the speech, then silence.
		voice := rt.samples*1000/rtpRate + prefix
		ms := max(speech.Milliseconds(), 1)
		ss.startSpeechLocked(voice, voice-prefix)
		rt.lastVoiceMS = voice + ms
		rt.samples += (prefix + ms + silence) * rtpRate / 1000
		ss.endSpeechLocked(rt.lastVoiceMS+silence, create)
		err = nil
	})
	return err
}

// AdvanceLiveUsage adds seconds to a Live session's cumulative usage.seconds,
// emits session.usage.updated at once, and returns the new total. With a
// frozen clock (Options.Now) the usage is then exactly the sum of the advances.
func (s *Simulator) AdvanceLiveUsage(id string, seconds float64) (float64, error) {
	ss := s.session(id, KindLive)
	if ss == nil || seconds < 0 || math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		if ss != nil {
			return 0, errors.New("simulator: seconds must be a finite number >= 0")
		}
		return 0, ErrUnknownSession
	}
	total, err := 0.0, ErrUnknownSession
	ss.do(func() {
		if ss.ended {
			return
		}
		ss.lv.offset += seconds
		total, err = ss.emitUsageLocked(s.now()), nil
	})
	return total, err
}

// ClientEvent delivers event (one JSON client event) to a session as if the
// browser had sent it on its data channel: a Live session's
// allowed_client_events apply, and the resulting server events reach the data
// channel and every sideband. It lets a test play the browser without one.
func (s *Simulator) ClientEvent(id string, event []byte) error {
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	if ss == nil {
		return ErrUnknownSession
	}
	ss.clientEvent(sourceDataChannel, event)
	return nil
}

// decodeStrict decodes a control body into v, refusing unknown members.
func decodeStrict(r *http.Request, v any) *apiError {
	body, _ := readAll(r)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errBadRequest("", codeInvalidValue, "Invalid control request body: "+err.Error())
	}
	return nil
}

func errControlNotFound() *apiError {
	return &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "session_not_found",
		Message: "No running session with that id."}
}

// control runs a control handler after standard-key authentication.
func (s *Simulator) control(w http.ResponseWriter, r *http.Request, h func() (any, *apiError)) {
	if err := s.authStandard(r); err != nil {
		writeError(w, err)
		return
	}
	out, aerr := h()
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// handleControlResponse serves POST /_simulator/calls/{id}/response
// {"usage":{…response.usage…}} → {"response_id":"resp_…"}.
func (s *Simulator) handleControlResponse(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, func() (any, *apiError) {
		var body struct {
			Usage *Usage `json:"usage"`
		}
		if err := decodeStrict(r, &body); err != nil {
			return nil, err
		}
		if body.Usage == nil {
			return nil, errMissingParam("usage")
		}
		id, err := s.EmitResponse(r.PathValue("id"), *body.Usage)
		if err != nil {
			return nil, errControlNotFound()
		}
		return map[string]string{"response_id": id}, nil
	})
}

// handleControlTurn serves POST /_simulator/calls/{id}/turn {"speech_ms":N} → {}.
func (s *Simulator) handleControlTurn(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, func() (any, *apiError) {
		var body struct {
			SpeechMS int64 `json:"speech_ms"`
		}
		if err := decodeStrict(r, &body); err != nil {
			return nil, err
		}
		if body.SpeechMS < 1 || body.SpeechMS > 3_600_000 {
			return nil, errBadRequest("speech_ms", codeInvalidValue, "speech_ms must be between 1 and 3600000.")
		}
		switch err := s.SimulateTurn(r.PathValue("id"), time.Duration(body.SpeechMS)*time.Millisecond); {
		case errors.Is(err, ErrUnknownSession):
			return nil, errControlNotFound()
		case err != nil:
			return nil, &apiError{Status: http.StatusConflict, Type: typeInvalidRequest, Message: err.Error()}
		}
		return struct{}{}, nil
	})
}

// handleControlLiveUsage serves POST /_simulator/live/{id}/usage {"seconds":N}
// → {"seconds": the new cumulative usage}.
func (s *Simulator) handleControlLiveUsage(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, func() (any, *apiError) {
		var body struct {
			Seconds *float64 `json:"seconds"`
		}
		if err := decodeStrict(r, &body); err != nil {
			return nil, err
		}
		if body.Seconds == nil || *body.Seconds < 0 {
			return nil, errBadRequest("seconds", codeInvalidValue, "seconds must be a number >= 0.")
		}
		total, err := s.AdvanceLiveUsage(r.PathValue("id"), *body.Seconds)
		if err != nil {
			return nil, errControlNotFound()
		}
		return map[string]float64{"seconds": total}, nil
	})
}

// handleControlClientEvent serves POST /_simulator/sessions/{id}/client_event
// with one client event as the body, delivered as if from the data channel.
func (s *Simulator) handleControlClientEvent(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, func() (any, *apiError) {
		body, _ := readAll(r)
		if _, ok := parseEvent(body); !ok {
			return nil, errBadRequest("", codeInvalidValue, "The body must be one JSON client event with a type.")
		}
		if err := s.ClientEvent(r.PathValue("id"), body); err != nil {
			return nil, errControlNotFound()
		}
		return struct{}{}, nil
	})
}

// handleControlSession serves GET /_simulator/sessions/{id}: a running
// session's kind, current session object, sidebands and (Live) usage, or
// {"id","ended":true,"end_reason"} for an ended one.
func (s *Simulator) handleControlSession(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, func() (any, *apiError) {
		id := r.PathValue("id")
		if reason, ok := s.EndReason(id); ok {
			return map[string]any{"id": id, "ended": true, "end_reason": reason}, nil
		}
		s.mu.Lock()
		ss := s.sessions[id]
		s.mu.Unlock()
		if ss == nil {
			return nil, errControlNotFound()
		}
		now := s.now()
		ss.mu.Lock()
		defer ss.mu.Unlock()
		out := map[string]any{"id": id, "kind": ss.kind, "ended": false, "session": ss.state, "sidebands": len(ss.sidebands)}
		if ss.kind == KindLive {
			out["usage_seconds"] = ss.liveSecondsLocked(now)
		}
		return json.RawMessage(mustJSON(out)), nil
	})
}
