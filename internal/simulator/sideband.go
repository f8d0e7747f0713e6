package simulator

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// Sideband limits.
const (
	// sidebandWriteTimeout bounds one event write to a sideband.
	sidebandWriteTimeout = 10 * time.Second
	// sidebandSlow is the close reason of a sideband whose queue overflowed.
	sidebandSlow = "sideband too slow: event queue full"
	// betaCloseCode is the close code OpenAI uses after beta_api_shape_disabled.
	betaCloseCode websocket.StatusCode = 4000
)

// sideband is one server WebSocket attached to a session. It joins the
// session's bus before the handshake completes, so no event emitted after the
// client saw its 101 is missed; writes wait for the connection (ready).
type sideband struct {
	ready    chan struct{} // closed once conn is set (nil if the upgrade failed)
	conn     *websocket.Conn
	out      *outbox
	graceful bool // Live graceful_close: closing the socket closes the session
	reason   string
}

// detachLocked removes sb from the session and closes its socket once the
// events already queued for it are written (1000, or 1008 when it was too slow).
func (ss *session) detachLocked(sb *sideband, reason string) {
	if _, ok := ss.sidebands[sb]; !ok {
		return
	}
	delete(ss.sidebands, sb)
	sb.reason = reason
	sb.out.close()
}

func (sb *sideband) write(b []byte) error {
	<-sb.ready
	if sb.conn == nil {
		return errNoConn
	}
	ctx, cancel := context.WithTimeout(context.Background(), sidebandWriteTimeout)
	defer cancel()
	return sb.conn.Write(ctx, websocket.MessageText, b)
}

// finish closes the socket after the outbox drained; reason was set by detachLocked.
func (sb *sideband) finish() {
	<-sb.ready
	if sb.conn == nil {
		return
	}
	code := websocket.StatusNormalClosure
	if sb.reason == sidebandSlow {
		code = websocket.StatusPolicyViolation
	}
	_ = sb.conn.Close(code, truncate(sb.reason, 120))
}

var errNoConn = errors.New("sideband upgrade failed")

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// handleRealtimeSideband serves GET /v1/realtime?call_id=… : a WebSocket that
// sees every server event of the call and may send client events. Only a
// standard key is accepted; an unknown or ended call id is a 404 before the
// upgrade. The simulator serves no other kind of /v1/realtime WebSocket.
func (s *Simulator) handleRealtimeSideband(w http.ResponseWriter, r *http.Request) {
	if err := s.authStandard(r); err != nil {
		writeError(w, err)
		return
	}
	if r.Header.Get("OpenAI-Beta") == "realtime=v1" {
		s.refuseBetaSocket(w, r)
		return
	}
	id := r.URL.Query().Get("call_id")
	if id == "" {
		writeError(w, errBadRequest("call_id", codeMissingParameter,
			"The simulator serves /v1/realtime only as a sideband of a call: pass call_id "+
				"(model= and intent= WebSockets are not simulated)."))
		return
	}
	ss := s.session(id, KindRealtime)
	if ss == nil {
		writeError(w, errCallNotFound())
		return
	}
	s.attach(w, r, ss, false)
}

// handleLiveSideband serves GET /v1/live/sessions/{id}/attach. graceful_close
// (default true) makes the closing of this socket close the session with
// reason close_requested; graceful_close=false leaves it running.
func (s *Simulator) handleLiveSideband(w http.ResponseWriter, r *http.Request) {
	if err := s.authStandard(r); err != nil {
		writeError(w, err)
		return
	}
	graceful := true
	if v := r.URL.Query().Get("graceful_close"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, errInvalidValue("graceful_close", v, []string{"true", "false"}))
			return
		}
		graceful = b
	}
	ss := s.session(r.PathValue("session_id"), KindLive)
	if ss == nil {
		writeError(w, errLiveNotFound())
		return
	}
	s.attach(w, r, ss, graceful)
}

// attach joins a sideband to the session's event bus, then upgrades the
// request. Attaching replays nothing: the sideband sees the events emitted
// from then on.
func (s *Simulator) attach(w http.ResponseWriter, r *http.Request, ss *session, graceful bool) {
	sb := &sideband{graceful: graceful, ready: make(chan struct{})}
	joined := false
	ss.do(func() {
		if ss.ended {
			return
		}
		sb.out = newOutbox(sidebandQueue, sb.write, sb.finish)
		ss.sidebands[sb] = struct{}{}
		joined = true
	})
	if !joined {
		writeError(w, notFound(ss.kind))
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: []string{"realtime"}})
	if err != nil {
		close(sb.ready)
		ss.do(func() { ss.detachLocked(sb, "") })
		return // Accept has answered.
	}
	conn.SetReadLimit(MaxBodyBytes)
	sb.conn = conn
	close(sb.ready)
	s.log.Debug("simulator sideband attached", "session_id", ss.id)
	go sb.readLoop(ss)
}

// readLoop feeds the sideband's messages to the session as client events until
// the socket closes, then detaches it (closing a graceful Live session).
func (sb *sideband) readLoop(ss *session) {
	for {
		typ, data, err := sb.conn.Read(context.Background())
		if err != nil {
			break
		}
		if typ != websocket.MessageText {
			continue
		}
		ss.clientEvent(sourceSideband, data)
	}
	ss.do(func() {
		if _, ok := ss.sidebands[sb]; !ok {
			return
		}
		ss.detachLocked(sb, "")
		if ss.kind == KindLive && sb.graceful {
			ss.closeLiveLocked("close_requested", "")
		}
	})
}

// refuseBetaSocket answers a beta-shaped WebSocket as OpenAI does since the
// beta was turned off: an error event, then close code 4000.
func (s *Simulator) refuseBetaSocket(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	ev := map[string]any{"type": "error", "event_id": "event_" + randomBase62(21), "error": map[string]any{
		"type": typeInvalidRequest, "code": codeBetaDisabled, "param": nil,
		"message": "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."}}
	ctx, cancel := context.WithTimeout(context.Background(), sidebandWriteTimeout)
	defer cancel()
	_ = conn.Write(ctx, websocket.MessageText, mustJSON(ev))
	_ = conn.Close(betaCloseCode, "beta_api_shape_disabled")
}
