package simulator

import (
	"slices"
	"strconv"
	"time"
)

// Why a session ended, as EndReason reports it. A Live session reports the
// reason of its session.closed event instead (close_requested, expired,
// remote_hangup, connection_lost).
const (
	// EndHangup: POST /v1/realtime/calls/{id}/hangup.
	EndHangup = "hangup"
	// EndExpired: the session reached its maximum duration.
	EndExpired = "expired"
	// EndPeerGone: the browser's peer closed or lost the connection.
	EndPeerGone = "peer_gone"
	// EndClosed: Simulator.Close.
	EndClosed = "simulator_closed"
)

// maxEnded bounds how many ended sessions EndReason remembers.
const maxEnded = 4096

// register adds a new session and makes sure the clock ticker runs.
func (s *Simulator) register(ss *session) {
	s.mu.Lock()
	s.sessions[ss.id] = ss
	start := !s.ticking
	s.ticking = true
	s.mu.Unlock()
	if start {
		go s.tickLoop()
	}
}

// forget removes an ended session and records why it ended.
func (s *Simulator) forget(id, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, id)
	if len(s.endedOrder) >= maxEnded {
		delete(s.ended, s.endedOrder[0])
		s.endedOrder = s.endedOrder[1:]
	}
	s.ended[id] = reason
	s.endedOrder = append(s.endedOrder, id)
}

// session returns the running session id of the given kind, or nil.
func (s *Simulator) session(id string, kind Kind) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[id]
	if ss == nil || ss.kind != kind {
		return nil
	}
	return ss
}

// running returns the running sessions of kind ("" for all).
func (s *Simulator) running(kind Kind) []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		if kind == "" || ss.kind == kind {
			out = append(out, ss)
		}
	}
	return out
}

func ids(list []*session) []string {
	out := make([]string, len(list))
	for i, ss := range list {
		out[i] = ss.id
	}
	slices.Sort(out)
	return out
}

// Calls returns the ids of the Realtime calls that have not ended, sorted.
func (s *Simulator) Calls() []string { return ids(s.running(KindRealtime)) }

// LiveSessions returns the ids of the Live sessions that have not ended, sorted.
func (s *Simulator) LiveSessions() []string { return ids(s.running(KindLive)) }

// LookupCall returns a running Realtime call by id; its Session is the current
// session (after every session.update).
func (s *Simulator) LookupCall(id string) (Call, bool) {
	ss := s.session(id, KindRealtime)
	if ss == nil {
		return Call{}, false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	c := ss.call
	c.Session = mustJSON(ss.state)
	return c, true
}

// EndReason reports why a session ended (EndHangup, EndExpired, EndPeerGone,
// EndClosed, or a Live session.closed reason); ok is false while it runs or
// when the id is unknown. The last 4096 ended sessions are remembered.
func (s *Simulator) EndReason(id string) (reason string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reason, ok = s.ended[id]
	return reason, ok
}

// Sidebands returns how many sidebands are attached to the running session id.
func (s *Simulator) Sidebands(id string) int {
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	if ss == nil {
		return 0
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.sidebands)
}

// Tick applies the clock-driven behaviour due at Now: Realtime calls and Live
// sessions past their maximum duration end, and Live sessions emit
// session.usage.updated when a LiveUsageInterval has passed. The simulator
// calls it every TickInterval while sessions exist; a test with a fake clock
// calls it after moving the clock to get the effects synchronously.
func (s *Simulator) Tick() {
	now := s.now()
	for _, ss := range s.running("") {
		ss.do(func() { ss.tickLocked(now) })
	}
}

// minutes renders d the way OpenAI's expiry message does ("60 minutes").
func minutes(d time.Duration) string {
	m := int(d / time.Minute)
	if m == 1 {
		return "1 minute"
	}
	return strconv.Itoa(m) + " minutes"
}

func (s *Simulator) tickLoop() {
	t := time.NewTicker(s.tickEvery)
	defer t.Stop()
	for range t.C {
		s.Tick()
		s.mu.Lock()
		if len(s.sessions) == 0 {
			s.ticking = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// tickLocked applies what is due at now to one session.
func (ss *session) tickLocked(now time.Time) {
	if ss.ended {
		return
	}
	switch ss.kind {
	case KindRealtime:
		if !now.Before(ss.expiresAt) {
			ss.endLocked(EndExpired, ss.errorEvent("", errBadRequest("", "session_expired",
				"Your session hit the maximum duration of "+minutes(ss.sim.maxCall)+".")))
		}
	case KindLive:
		ss.liveTickLocked(now)
	}
}

// Close ends every running session (peers hung up, sidebands closed) with
// reason EndClosed. The simulator keeps serving; new sessions can be created.
func (s *Simulator) Close() {
	for _, ss := range s.running("") {
		ss.do(func() { ss.endLocked(EndClosed) })
	}
}
