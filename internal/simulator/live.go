package simulator

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"time"
)

// liveState is a Live session's usage clock and the permissions of its data channel.
type liveState struct {
	offset     float64   // seconds added by AdvanceLiveUsage
	nextUsage  time.Time // when the next periodic session.usage.updated is due
	itemText   int64     // text tokens of response.item.create items
	allowedIn  any       // allowed_client_events: "all" or []any
	allowedOut []any     // allowed_server_events selectors; nil means all
}

// serverEventAllowed applies allowed_server_events to an event bound for the
// browser's data channel.
func (lv *liveState) serverEventAllowed(ev map[string]any) bool {
	if lv.allowedOut == nil {
		return true
	}
	for _, s := range lv.allowedOut {
		sel, _ := s.(map[string]any)
		if sel["type"] != ev["type"] {
			continue
		}
		if ev["type"] != "response.event" {
			return true
		}
		inner, _ := ev["event"].(map[string]any)
		if sel["response_event"] == inner["type"] {
			return true
		}
	}
	return false
}

// LiveSession describes one running GPT-Live session.
type LiveSession struct {
	// ID is the session id, "live_" followed by 24 base62 characters.
	ID string
	// Session is the current SessionResource (JSON), as session.started and
	// session.updated carry it.
	Session []byte
	// CreatedAt is when the session was created (per Options.Now).
	CreatedAt time.Time
	// UsageSeconds is the cumulative usage.seconds now.
	UsageSeconds float64
}

// LookupLive returns a running Live session by id.
func (s *Simulator) LookupLive(id string) (LiveSession, bool) {
	ss := s.session(id, KindLive)
	if ss == nil {
		return LiveSession{}, false
	}
	now := s.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return LiveSession{ID: id, Session: mustJSON(ss.state), CreatedAt: ss.createdAt, UsageSeconds: ss.liveSecondsLocked(now)}, true
}

// liveSession resolves a validated MediaSessionConfig into a SessionResource.
func liveSession(id string, cfg map[string]any, expiresAt time.Time) map[string]any {
	voice := any(DefaultLiveVoice)
	if audio, ok := cfg["audio"].(map[string]any); ok {
		if out, ok := audio["output"].(map[string]any); ok && out["voice"] != nil {
			voice = out["voice"]
		}
	}
	dc := map[string]any{"allowed_client_events": "all", "allowed_server_events": "all"}
	if client, ok := cfg["client"].(map[string]any); ok {
		maps.Copy(dc, client["data_channel"].(map[string]any))
	}
	delegation := map[string]any{"type": "client", "acknowledgement_delay_ms": 0}
	if d, ok := cfg["delegation"].(map[string]any); ok {
		delegation = maps.Clone(d)
		if _, ok := delegation["acknowledgement_delay_ms"]; !ok {
			delegation["acknowledgement_delay_ms"] = 0
			if d["type"] == "decisions" {
				delegation["acknowledgement_delay_ms"] = 400
			}
		}
	}
	get := func(k string, def any) any {
		if v, ok := cfg[k]; ok && v != nil {
			return v
		}
		return def
	}
	return map[string]any{
		"id":           id,
		"expires_at":   expiresAt.Unix(),
		"model":        cfg["model"],
		"status":       "active",
		"audio":        map[string]any{"output": map[string]any{"voice": voice}},
		"client":       map[string]any{"data_channel": dc},
		"delegation":   delegation,
		"input":        get("input", []any{}),
		"instructions": get("instructions", nil),
		"store":        get("store", false),
		"triggers":     get("triggers", []any{}),
	}
}

// handleCreateLive serves POST /v1/live/sessions (standard key only): a JSON
// {session, transport:{type:"webrtc", sdp}} answered 201 with the session id
// and the SDP answer.
func (s *Simulator) handleCreateLive(w http.ResponseWriter, r *http.Request) {
	body, aerr := s.jsonRequest(r)
	var (
		cfg   map[string]any
		offer string
	)
	if aerr == nil {
		cfg, offer, aerr = s.checkLiveCreate(body)
	}
	if aerr == nil {
		if err := checkOffer(offer); err != nil {
			aerr = errBadRequest("transport.sdp", codeInvalidOffer, "Invalid SDP offer: "+err.Error()+".")
		}
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}

	id := "live_" + randomBase62(24)
	now := s.now()
	ss := newSession(s, KindLive, id, now, s.maxLive)
	ss.state = liveSession(id, cfg, ss.expiresAt)
	dc := ss.state["client"].(map[string]any)["data_channel"].(map[string]any)
	ss.lv = &liveState{nextUsage: now.Add(s.liveEvery), allowedIn: dc["allowed_client_events"]}
	if sel, ok := dc["allowed_server_events"].([]any); ok {
		ss.lv.allowedOut = sel
	}

	answer, err := s.answerer.Answer(r.Context(), offer, &ss.link)
	if err != nil {
		if errors.Is(err, ErrInvalidOffer) {
			writeError(w, errBadRequest("transport.sdp", codeInvalidOffer, "Invalid SDP offer."))
		} else {
			s.log.Warn("simulator answerer failed", "session_id", id, "err", err)
			writeError(w, errServer())
		}
		return
	}
	ss.do(func() {
		if !ss.ended {
			s.register(ss)
		}
	})
	writeJSON(w, http.StatusCreated, map[string]any{
		"session":   map[string]any{"id": id},
		"transport": map[string]any{"type": "webrtc", "sdp": answer},
	})
}

// handleLiveHangup serves POST /v1/live/sessions/{id}/hangup. OpenAI documents
// it for SIP only; the simulator also ends a WebRTC session with it, with
// session.closed reason close_requested (see the package doc).
func (s *Simulator) handleLiveHangup(w http.ResponseWriter, r *http.Request) {
	s.hangup(w, r, KindLive, r.PathValue("session_id"), func(ss *session) { ss.closeLiveLocked("close_requested", "") })
}

// errLiveNotFound is the 404 for an unknown or ended Live session id.
func errLiveNotFound() *apiError {
	return &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest, Param: "session_id",
		Code: "session_not_found", Message: "No Live session found with the provided session_id."}
}

// liveSecondsLocked is the cumulative usage.seconds at now: the time since
// creation (capped at the maximum duration) plus AdvanceLiveUsage, to the
// millisecond.
func (ss *session) liveSecondsLocked(now time.Time) float64 {
	elapsed := min(max(now.Sub(ss.createdAt), 0), ss.expiresAt.Sub(ss.createdAt))
	return math.Round((elapsed.Seconds()+ss.lv.offset)*1000) / 1000
}

// emitUsageLocked emits session.usage.updated with the usage at now.
func (ss *session) emitUsageLocked(now time.Time) float64 {
	secs := ss.liveSecondsLocked(now)
	ss.emitLocked(map[string]any{"type": "session.usage.updated", "usage": map[string]any{"seconds": secs}})
	return secs
}

// liveTickLocked ends an expired session or emits the periodic usage.
func (ss *session) liveTickLocked(now time.Time) {
	if !now.Before(ss.expiresAt) {
		ss.closeLiveLocked("expired", "")
		return
	}
	if now.Before(ss.lv.nextUsage) {
		return
	}
	ss.emitUsageLocked(now)
	every := ss.sim.liveEvery
	ss.lv.nextUsage = ss.createdAt.Add((now.Sub(ss.createdAt)/every + 1) * every)
}

// closeLiveLocked emits session.closed (reason, the final session, the final
// usage) and ends the session.
func (ss *session) closeLiveLocked(reason, clientEventID string) {
	if ss.ended {
		return
	}
	ev := map[string]any{"type": "session.closed", "reason": reason, "session": ss.state,
		"usage": map[string]any{"seconds": ss.liveSecondsLocked(ss.sim.now())}}
	if clientEventID != "" {
		ev["client_event_id"] = clientEventID
	}
	ss.endLocked(reason, ev)
}

// liveEventLocked handles one Live client event. On the data channel the
// session's allowed_client_events apply; sidebands are trusted.
func (ss *session) liveEventLocked(src source, ev map[string]any) {
	typ := ev["type"].(string)
	clientID, _ := ev["event_id"].(string)
	reply := func(out map[string]any) {
		if clientID != "" {
			out["client_event_id"] = clientID
		}
		ss.emitLocked(out)
	}
	fail := func(e *apiError) { ss.emitLocked(ss.errorEvent(clientID, e)) }
	if !slices.Contains(liveClientEvents, typ) {
		fail(errInvalidValue("type", typ, liveClientEvents))
		return
	}
	if src == sourceDataChannel && !liveClientEventAllowed(ss.lv.allowedIn, typ) {
		reply(map[string]any{"type": "info", "code": "data_channel_permissions",
			"message": fmt.Sprintf("Client event '%s' is not permitted on this data channel by client.data_channel.allowed_client_events.", typ)})
		return
	}
	delegation, _ := ss.state["delegation"].(map[string]any)
	responses := delegation["type"] == "responses"
	elapsedMS := max(ss.sim.now().Sub(ss.createdAt), 0).Milliseconds()
	switch typ {
	case "session.start":
		fail(errBadRequest("type", codeInvalidValue, "session.start is only accepted as the first event of a primary WebSocket; this session has already started."))
	case "session.input_audio.append":
		fail(errBadRequest("type", codeInvalidValue, "session.input_audio.append is only accepted on a primary WebSocket."))
	case "transport.dtmf.send":
		if src == sourceDataChannel {
			fail(errBadRequest("type", codeInvalidValue, "transport.dtmf.send is only accepted on a sideband of a SIP session."))
		}
	case "session.update":
		ss.liveUpdateLocked(ev, fail, reply)
	case "session.instructions.append", "session.thinking.append", "session.commentary.append":
		if _, err := checkObject("", ev, []field{{"type", nil}, {"event_id", str(false)},
			{"content", str(true)}, {"delegation_id", nullable(str(true))}}, "content", "delegation_id"); err != nil {
			fail(err)
			return
		}
		if textTokens(ev["content"].(string)) > 500 {
			fail(errBadRequest("content", "string_above_max_length", "Invalid 'content': the text is limited to 500 tokens."))
			return
		}
		if ev["delegation_id"] != nil && responses {
			fail(errBadRequest("delegation_id", codeInvalidValue, "A delegation_id is not accepted with Responses delegation."))
			return
		}
		reply(map[string]any{"type": typ + "ed", "start_ms": elapsedMS, "end_ms": elapsedMS})
	case "session.input_audio.mute":
		reply(map[string]any{"type": "session.input_audio.muted"})
	case "session.input_audio.unmute":
		reply(map[string]any{"type": "session.input_audio.unmuted"})
	case "response.item.create", "response.create":
		if !responses {
			fail(errBadRequest("type", codeInvalidValue, typ+" requires Responses delegation (session.delegation.type 'responses')."))
			return
		}
		if typ == "response.item.create" {
			item, ok := ev["item"].(map[string]any)
			if !ok {
				fail(errMissingParam("item"))
				return
			}
			ss.lv.itemText += textTokens(string(mustJSON(item)))
			return
		}
		ss.liveResponseLocked(delegation, clientID)
	case "session.close":
		ss.closeLiveLocked("close_requested", clientID)
	default:
		// decision.*, session.output_audio.fixture.play: accepted, no simulated effect.
	}
}

// liveUpdateLocked applies a Live session.update: only delegation settings
// (of the same delegation type) and triggers may change.
func (ss *session) liveUpdateLocked(ev map[string]any, fail func(*apiError), reply func(map[string]any)) {
	upd, err := checkObject("session", ev["session"], []field{{"delegation", liveDelegationUpdate}, {"triggers", array(anyValue)}})
	if _, present := ev["session"]; !present {
		err = errMissingParam("session")
	}
	if err != nil {
		fail(err)
		return
	}
	cur, _ := ss.state["delegation"].(map[string]any)
	if d, ok := upd["delegation"].(map[string]any); ok {
		if d["type"] != cur["type"] {
			fail(errBadRequest("session.delegation.type", codeInvalidValue,
				fmt.Sprintf("The delegation type cannot change during a session (it is '%v').", cur["type"])))
			return
		}
		ss.state["delegation"] = mergeJSON(cur, d)
	}
	if t, ok := upd["triggers"]; ok {
		ss.state["triggers"] = t
	}
	reply(map[string]any{"type": "session.updated", "session": ss.state})
}

// liveResponseLocked answers a response.create under Responses delegation with
// a Responses stream wrapped in response.event: response.created, then
// response.completed with usage (see the package doc).
func (ss *session) liveResponseLocked(delegation map[string]any, clientID string) {
	cfg, _ := delegation["responses"].(map[string]any)
	instr, _ := cfg["instructions"].(string)
	id := newResponseID()
	in := textTokens(instr) + ss.lv.itemText
	const out = 20
	resp := func(status string, usage any) map[string]any {
		return map[string]any{"id": id, "object": "response", "status": status, "model": cfg["model"], "usage": usage}
	}
	wrap := func(inner map[string]any) map[string]any {
		ev := map[string]any{"type": "response.event", "delegation_id": nil, "event": inner}
		if clientID != "" {
			ev["client_event_id"] = clientID
		}
		return ev
	}
	ss.emitLocked(wrap(map[string]any{"type": "response.created", "sequence_number": 0, "response": resp("in_progress", nil)}))
	ss.emitLocked(wrap(map[string]any{"type": "response.completed", "sequence_number": 1, "response": resp("completed",
		map[string]any{"input_tokens": in, "input_tokens_details": map[string]any{"cached_tokens": 0},
			"output_tokens": out, "output_tokens_details": map[string]any{"reasoning_tokens": 0},
			"total_tokens": in + out})}))
}
