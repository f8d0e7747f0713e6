package simulator

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"
)

// Queue bounds of the event bus.
const (
	// dataChannelQueue bounds the events held for a data channel that has not
	// opened yet and the events in flight to an open one.
	dataChannelQueue = 256
	// sidebandQueue bounds the events in flight to one sideband; a sideband that
	// falls this far behind is disconnected.
	sidebandQueue = 1024
	// drainTimeout bounds how long the end of a session waits for the data
	// channel to take its last events before the peer is hung up.
	drainTimeout = 2 * time.Second
)

// source says where a client event came from.
type source int

const (
	sourceDataChannel source = iota
	sourceSideband
)

// session is one Realtime call or Live session: its state and its event bus.
// Every server event goes, in order, to the browser's data channel (subject to a
// Live session's allowed_server_events) and to every attached sideband.
type session struct {
	sim       *Simulator
	kind      Kind
	id        string
	createdAt time.Time
	expiresAt time.Time
	link      Link

	mu        sync.Mutex
	state     map[string]any // the Realtime session object or the Live SessionResource
	call      Call           // Realtime metadata (Session is filled on read)
	ended     bool
	dc        *outbox  // the browser's data channel once open
	dcQueue   [][]byte // events emitted before it opened
	sidebands map[*sideband]struct{}
	rt        *realtimeState
	lv        *liveState
	cleanup   func() // set by endLocked, run after the lock is released
}

func newSession(sim *Simulator, kind Kind, id string, now time.Time, maxAge time.Duration) *session {
	ss := &session{
		sim:       sim,
		kind:      kind,
		id:        id,
		createdAt: now,
		expiresAt: now.Add(maxAge),
		sidebands: make(map[*sideband]struct{}),
	}
	ss.link.sess = ss
	return ss
}

// do runs f under the session lock, then any cleanup f scheduled by ending the
// session (draining the data channel and hanging up the peer, which must not
// happen under the lock).
func (ss *session) do(f func()) {
	ss.mu.Lock()
	f()
	cleanup := ss.cleanup
	ss.cleanup = nil
	ss.mu.Unlock()
	if cleanup != nil {
		cleanup()
	}
}

// emitLocked stamps ev with a fresh event_id and delivers it to the data channel
// (or its queue) and to every sideband. It does nothing once the session ended.
func (ss *session) emitLocked(ev map[string]any) {
	if ss.ended {
		return
	}
	ev["event_id"] = "event_" + randomBase62(21)
	b, err := json.Marshal(ev)
	if err != nil {
		ss.sim.log.Warn("simulator event not encodable", "session_id", ss.id, "type", ev["type"], "err", err)
		return
	}
	if ss.kind != KindLive || ss.lv.serverEventAllowed(ev) {
		switch {
		case ss.dc != nil:
			if !ss.dc.push(b) {
				ss.sim.log.Debug("simulator data channel queue full; event dropped", "session_id", ss.id, "type", ev["type"])
			}
		case len(ss.dcQueue) < dataChannelQueue:
			ss.dcQueue = append(ss.dcQueue, b)
		}
	}
	for sb := range ss.sidebands {
		if !sb.out.push(b) {
			ss.sim.log.Debug("simulator sideband too slow; disconnecting it", "session_id", ss.id)
			ss.detachLocked(sb, sidebandSlow)
		}
	}
}

// openDataChannel attaches the browser's events channel, sends the session's
// first event to everyone, then the events queued for the channel.
func (ss *session) openDataChannel(send func([]byte) error) {
	ss.do(func() {
		if ss.ended {
			return
		}
		first := ss.dc == nil
		if ss.dc != nil {
			ss.dc.close()
		}
		ss.dc = newOutbox(dataChannelQueue, send, nil)
		if !first {
			return
		}
		switch ss.kind {
		case KindRealtime:
			ss.emitLocked(map[string]any{"type": "session.created", "session": ss.state})
		case KindLive:
			ss.emitLocked(map[string]any{"type": "session.started", "session": ss.state})
		}
		for _, b := range ss.dcQueue {
			ss.dc.push(b)
		}
		ss.dcQueue = nil
	})
}

// clientEvent handles one client event from the data channel or a sideband.
func (ss *session) clientEvent(src source, raw []byte) {
	ss.do(func() {
		if ss.ended {
			return
		}
		ev, ok := parseEvent(raw)
		if !ok {
			ss.emitLocked(ss.errorEvent("", errBadRequest("", "invalid_json", "The event could not be parsed as JSON.")))
			return
		}
		switch ss.kind {
		case KindRealtime:
			ss.realtimeEventLocked(src, ev)
		case KindLive:
			ss.liveEventLocked(src, ev)
		}
	})
}

// parseEvent decodes a client event: a JSON object with a non-empty string type.
func parseEvent(raw []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil || dec.More() {
		return nil, false
	}
	if t, ok := ev["type"].(string); !ok || t == "" {
		return nil, false
	}
	return ev, true
}

// errorEvent renders e as the API's error server event for the client event
// with id clientEventID ("" for none): Realtime puts the id in error.event_id,
// Live in error.client_event_id and the event's client_event_id.
func (ss *session) errorEvent(clientEventID string, e *apiError) map[string]any {
	body := map[string]any{"type": e.Type, "code": orNull(e.Code), "message": e.Message, "param": orNull(e.Param)}
	ev := map[string]any{"type": "error", "error": body}
	if ss.kind == KindLive {
		if clientEventID != "" {
			body["client_event_id"] = clientEventID
			ev["client_event_id"] = clientEventID
		}
		return ev
	}
	body["event_id"] = orNull(clientEventID)
	return ev
}

// peerGone ends the session because the browser's peer went away.
func (ss *session) peerGone(graceful bool) {
	ss.do(func() {
		if ss.ended {
			return
		}
		if ss.kind == KindLive {
			reason := "connection_lost"
			if graceful {
				reason = "remote_hangup"
			}
			ss.closeLiveLocked(reason, "")
			return
		}
		ss.endLocked(EndPeerGone)
	})
}

// endLocked ends the session: the final events are emitted, every sideband
// gets them and a normal close, the session is forgotten, and (after the lock
// is released) the data channel drains and the peer is hung up.
func (ss *session) endLocked(reason string, final ...map[string]any) {
	if ss.ended {
		return
	}
	// Forgotten before the final events go out: whoever reads them (a
	// sideband's session.closed) must find the session gone already.
	ss.sim.forget(ss.id, reason)
	for _, ev := range final {
		ss.emitLocked(ev)
	}
	ss.ended = true
	for sb := range ss.sidebands {
		ss.detachLocked(sb, "session ended: "+reason)
	}
	dc, hangup := ss.dc, ss.sim.answerer.Hangup
	ss.cleanup = func() {
		if dc != nil {
			dc.close()
			t := time.NewTimer(drainTimeout)
			select {
			case <-dc.done:
			case <-t.C:
			}
			t.Stop()
		}
		hangup(ss.id)
	}
}

// outbox delivers messages to one destination from a single goroutine, in
// order, without blocking the emitter.
type outbox struct {
	ch        chan []byte
	done      chan struct{}
	closeOnce sync.Once
}

// newOutbox starts the writer. After a failed write the rest is discarded;
// finish (if any) runs once the box is closed and drained.
func newOutbox(size int, write func([]byte) error, finish func()) *outbox {
	o := &outbox{ch: make(chan []byte, size), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		failed := false
		for b := range o.ch {
			if !failed && write(b) != nil {
				failed = true
			}
		}
		if finish != nil {
			finish()
		}
	}()
	return o
}

// push queues b and reports whether there was room. It must not be called
// after close; the session lock guarantees that.
func (o *outbox) push(b []byte) bool {
	select {
	case o.ch <- b:
		return true
	default:
		return false
	}
}

func (o *outbox) close() { o.closeOnce.Do(func() { close(o.ch) }) }
