package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
)

// Call describes one call created through POST /v1/realtime/calls.
type Call struct {
	// ID is the call id, "rtc_" followed by 32 hex characters.
	ID string
	// Session is the session object (JSON). At creation it is the multipart
	// session with defaults filled in, else the ephemeral secret's session, else
	// the defaults; LookupCall returns it as it is now, after every
	// session.update.
	Session []byte
	// CreatedAt is when the call was created (per Options.Now).
	CreatedAt time.Time
	// Ephemeral reports whether the caller authenticated with an ek_ secret.
	Ephemeral bool
	// SafetyIdentifier is the identifier bound to the secret, or the request's
	// OpenAI-Safety-Identifier header for a standard-key call.
	SafetyIdentifier string
}

// handleCreateCall serves POST /v1/realtime/calls: an application/sdp offer, or a
// multipart/form-data body with "sdp" and optional "session" (bare or wrapped in
// {"session":...}). Either may authenticate with a standard key or an unexpired ek_.
func (s *Simulator) handleCreateCall(w http.ResponseWriter, r *http.Request) {
	secret, aerr := s.authAny(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	body, _ := readAll(r)
	var (
		offer   string
		sessReq map[string]any
	)
	switch mt, params := mediaType(r); mt {
	case "application/sdp":
		offer = string(body)
	case "multipart/form-data":
		offer, sessReq, aerr = parseCallForm(body, params["boundary"])
		if aerr != nil {
			writeError(w, aerr)
			return
		}
	default:
		writeError(w, errContentType(r.Header.Get("Content-Type"), "application/sdp", "multipart/form-data"))
		return
	}
	if err := checkOffer(offer); err != nil {
		writeError(w, errBadRequest("sdp", codeInvalidOffer, "Invalid SDP offer: "+err.Error()+"."))
		return
	}

	call := Call{ID: "rtc_" + randomHex(16), CreatedAt: s.now(), Ephemeral: secret != nil}
	var state map[string]any
	switch {
	case sessReq != nil:
		state = realtimeSession(sessReq)
	case secret != nil:
		if err := json.Unmarshal(secret.Session, &state); err != nil {
			writeError(w, errServer())
			return
		}
	default:
		state = realtimeSession(nil)
	}
	if aerr := s.checkDeployment("session.model", state["model"]); aerr != nil {
		writeError(w, aerr)
		return
	}
	if secret != nil {
		call.SafetyIdentifier = secret.SafetyIdentifier
	} else {
		call.SafetyIdentifier = r.Header.Get("OpenAI-Safety-Identifier")
	}
	ss := newSession(s, KindRealtime, call.ID, call.CreatedAt, s.maxCall)
	state["expires_at"] = ss.expiresAt.Unix()
	ss.state, ss.call, ss.rt = state, call, newRealtimeState()

	answer, err := s.answerer.Answer(r.Context(), offer, &ss.link)
	if err != nil {
		if errors.Is(err, ErrInvalidOffer) {
			writeError(w, errBadRequest("sdp", codeInvalidOffer, "Invalid SDP offer."))
		} else {
			s.log.Warn("simulator answerer failed", "call_id", call.ID, "err", err)
			writeError(w, errServer())
		}
		return
	}
	ss.do(func() {
		if !ss.ended {
			s.register(ss)
		}
	})

	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", s.prefix+"/realtime/calls/"+call.ID)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// codeInvalidOffer is the simulator's error code for an unusable SDP offer (OpenAI's
// own code for this case is not documented).
const codeInvalidOffer = "invalid_offer"

// parseCallForm reads the multipart body of a unified-interface call.
func parseCallForm(body []byte, boundary string) (string, map[string]any, *apiError) {
	if boundary == "" {
		return "", nil, errBadRequest("", "", "Invalid multipart/form-data body: missing boundary.")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var (
		offer          string
		haveSDP        bool
		sessionRaw     []byte
		haveSessionRaw bool
	)
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", nil, errBadRequest("", "", "Invalid multipart/form-data body.")
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return "", nil, errBadRequest("", "", "Invalid multipart/form-data body.")
		}
		switch name := p.FormName(); name {
		case "sdp":
			offer, haveSDP = string(data), true
		case "session":
			sessionRaw, haveSessionRaw = data, true
		default:
			return "", nil, errUnknownParam(name)
		}
	}
	if !haveSDP {
		return "", nil, errMissingParam("sdp")
	}
	if !haveSessionRaw {
		return offer, nil, nil
	}
	m, aerr := decodeObject(sessionRaw)
	if aerr != nil {
		return "", nil, errBadRequest("session", codeInvalidValue,
			"Invalid 'session': expected a JSON object with the session configuration.")
	}
	// Accept the wrapped form {"session":{...}} that GA console forks send.
	if inner, ok := m["session"]; ok && len(m) == 1 {
		var isObj bool
		if m, isObj = inner.(map[string]any); !isObj {
			return "", nil, errInvalidType("session", "an object", inner)
		}
	}
	sess, _, aerr := checkSession("session", m, "realtime")
	if aerr != nil {
		return "", nil, aerr
	}
	return offer, sess, nil
}

// checkOffer does a light syntactic check that offer is an SDP document.
func checkOffer(offer string) error {
	text := strings.TrimLeft(offer, " \t\r\n")
	if text == "" {
		return errors.New("the offer is empty")
	}
	if !strings.HasPrefix(text, "v=0") {
		return errors.New("expected the offer to start with 'v=0'")
	}
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "m=") {
			return nil
		}
	}
	return errors.New("the offer has no media section ('m=' line)")
}

// handleHangup serves POST /v1/realtime/calls/{call_id}/hangup (standard key only):
// the call ends, its sidebands get a normal close and its peer is hung up.
func (s *Simulator) handleHangup(w http.ResponseWriter, r *http.Request) {
	s.hangup(w, r, KindRealtime, r.PathValue("call_id"), func(ss *session) { ss.endLocked(EndHangup) })
}

// hangup ends the running session id of kind with end (under its lock) and
// answers 200 with an empty body, or the kind's 404 when there is none.
func (s *Simulator) hangup(w http.ResponseWriter, r *http.Request, kind Kind, id string, end func(*session)) {
	if err := s.authStandard(r); err != nil {
		writeError(w, err)
		return
	}
	ended := true
	if ss := s.session(id, kind); ss != nil {
		ss.do(func() {
			ended = ss.ended
			end(ss)
		})
	}
	if ended {
		writeError(w, notFound(kind))
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// notFound is the 404 for an unknown or ended session of kind.
func notFound(kind Kind) *apiError {
	if kind == KindLive {
		return errLiveNotFound()
	}
	return errCallNotFound()
}

// errCallNotFound is the 404 for an unknown or ended call id (the message and
// code a community post recorded for the sideband handshake).
func errCallNotFound() *apiError {
	return &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest, Param: "call_id",
		Code: "call_id_not_found", Message: "No session found for the provided call_id"}
}
