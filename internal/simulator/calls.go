package simulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Call describes one call created through POST /v1/realtime/calls.
type Call struct {
	// ID is the call id, "rtc_" followed by 32 hex characters.
	ID string
	// Session is the effective session object (JSON): the multipart session with
	// defaults filled in, else the ephemeral secret's session, else the defaults.
	Session []byte
	// CreatedAt is when the call was created (per Options.Now).
	CreatedAt time.Time
	// Ephemeral reports whether the caller authenticated with an ek_ secret.
	Ephemeral bool
	// SafetyIdentifier is the identifier bound to the secret, or the request's
	// OpenAI-Safety-Identifier header for a standard-key call.
	SafetyIdentifier string
}

// Answerer produces SDP answers for new calls and hears about their hangups. The
// default (Options.Answerer nil) is AnswererFunc(CannedAnswer); a real WebRTC peer
// can be plugged in here.
type Answerer interface {
	// Answer returns the SDP answer to offer for call. An error wrapping
	// ErrInvalidOffer becomes a 400 invalid_offer; any other error a 500.
	Answer(ctx context.Context, call Call, offer string) (string, error)
	// Hangup is called after a call is hung up through the API.
	Hangup(callID string)
}

// AnswererFunc adapts a function to Answerer; its Hangup does nothing.
type AnswererFunc func(ctx context.Context, call Call, offer string) (string, error)

// Answer calls f.
func (f AnswererFunc) Answer(ctx context.Context, call Call, offer string) (string, error) {
	return f(ctx, call, offer)
}

// Hangup does nothing.
func (f AnswererFunc) Hangup(string) {}

// ErrInvalidOffer is wrapped by Answerer errors that mean the client's offer is bad.
var ErrInvalidOffer = errors.New("invalid SDP offer")

// Calls returns the ids of the calls created and not yet hung up, sorted.
func (s *Simulator) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.calls))
	for id := range s.calls {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// LookupCall returns a live call by id.
func (s *Simulator) LookupCall(id string) (Call, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.calls[id]
	if !ok {
		return Call{}, false
	}
	cc := *c
	cc.Session = slices.Clone(c.Session)
	return cc, true
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
	switch {
	case sessReq != nil:
		b, err := json.Marshal(realtimeSession(sessReq))
		if err != nil {
			writeError(w, errServer())
			return
		}
		call.Session = b
	case secret != nil:
		call.Session = secret.Session
	default:
		b, _ := json.Marshal(realtimeSession(nil))
		call.Session = b
	}
	if secret != nil {
		call.SafetyIdentifier = secret.SafetyIdentifier
	} else {
		call.SafetyIdentifier = r.Header.Get("OpenAI-Safety-Identifier")
	}

	answer, err := s.answerer.Answer(r.Context(), call, offer)
	if err != nil {
		if errors.Is(err, ErrInvalidOffer) {
			writeError(w, errBadRequest("sdp", codeInvalidOffer, "Invalid SDP offer."))
		} else {
			s.log.Warn("simulator answerer failed", "call_id", call.ID, "err", err)
			writeError(w, errServer())
		}
		return
	}
	s.mu.Lock()
	s.calls[call.ID] = &call
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/v1/realtime/calls/"+call.ID)
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

// CannedAnswer is the default Answerer: a syntactically plausible SDP answer that
// mirrors the offer's media sections (audio and data channel accepted, anything else
// rejected with port 0). It sets up no real media.
func CannedAnswer(_ context.Context, _ Call, offer string) (string, error) {
	type section struct{ kind, proto, mid string }
	var secs []section
	for line := range strings.Lines(offer) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "m="):
			f := strings.Fields(strings.TrimPrefix(line, "m="))
			sec := section{mid: fmt.Sprint(len(secs))}
			if len(f) > 0 {
				sec.kind = f[0]
			}
			if len(f) > 2 {
				sec.proto = f[2]
			}
			secs = append(secs, sec)
		case strings.HasPrefix(line, "a=mid:") && len(secs) > 0:
			secs[len(secs)-1].mid = strings.TrimPrefix(line, "a=mid:")
		}
	}
	if len(secs) == 0 {
		return "", fmt.Errorf("%w: no media sections", ErrInvalidOffer)
	}
	mids := make([]string, 0, len(secs))
	for _, sec := range secs {
		mids = append(mids, sec.mid)
	}
	raw := make([]byte, 36)
	_, _ = rand.Read(raw)
	fp := make([]string, 32)
	for i, c := range raw[:32] {
		fp[i] = fmt.Sprintf("%02X", c)
	}
	sessID := binary.BigEndian.Uint32(raw[32:])
	ufrag, pwd := randomHex(4), randomHex(12)
	var b strings.Builder
	wl := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }
	wl("v=0")
	wl("o=- %d %d IN IP4 127.0.0.1", sessID, 1)
	wl("s=-")
	wl("t=0 0")
	wl("a=group:BUNDLE %s", strings.Join(mids, " "))
	wl("a=msid-semantic: WMS *")
	for _, sec := range secs {
		switch sec.kind {
		case "audio":
			wl("m=audio 9 UDP/TLS/RTP/SAVPF 111")
		case "application":
			wl("m=application 9 UDP/DTLS/SCTP webrtc-datachannel")
		default:
			wl("m=%s 0 %s 0", sec.kind, sec.proto)
			wl("a=mid:%s", sec.mid)
			continue
		}
		wl("c=IN IP4 0.0.0.0")
		wl("a=ice-ufrag:%s", ufrag)
		wl("a=ice-pwd:%s", pwd)
		wl("a=fingerprint:sha-256 %s", strings.Join(fp, ":"))
		wl("a=setup:active")
		wl("a=mid:%s", sec.mid)
		if sec.kind == "audio" {
			wl("a=sendrecv")
			wl("a=rtcp-mux")
			wl("a=rtpmap:111 opus/48000/2")
			wl("a=fmtp:111 minptime=10;useinbandfec=1")
		} else {
			wl("a=sctp-port:5000")
			wl("a=max-message-size:1073741823")
		}
	}
	return b.String(), nil
}

// handleHangup serves POST /v1/realtime/calls/{call_id}/hangup (standard key only).
func (s *Simulator) handleHangup(w http.ResponseWriter, r *http.Request) {
	if err := s.authStandard(r); err != nil {
		writeError(w, err)
		return
	}
	id := r.PathValue("call_id")
	s.mu.Lock()
	_, ok := s.calls[id]
	delete(s.calls, id)
	s.mu.Unlock()
	if !ok {
		writeError(w, &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest, Param: "call_id",
			Code: "call_id_not_found", Message: "No session found for the provided call_id"})
		return
	}
	s.answerer.Hangup(id)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}
