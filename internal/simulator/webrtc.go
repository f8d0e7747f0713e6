package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// Limits of the WebRTC answerer.
const (
	// maxPeerLifetime is OpenAI's own cap on one Realtime session.
	maxPeerLifetime = 60 * time.Minute
	// defaultMaxPeers bounds how many peers one simulator runs at once.
	defaultMaxPeers = 32
	// eventsLabel is the data channel label OpenAI's clients open.
	eventsLabel = "oai-events"
)

// WebRTCOptions configures a WebRTCAnswerer.
type WebRTCOptions struct {
	// Logger receives peer lifecycle lines (never SDP or secrets); nil discards.
	Logger *slog.Logger
	// Now stamps events (expires_at); nil means time.Now.
	Now func() time.Time
	// MaxPeers bounds concurrent peers; 0 means 32. Offers beyond it fail.
	MaxPeers int
}

// WebRTCAnswerer is an Answerer backed by a real WebRTC peer (pion): for each
// call it accepts the "oai-events" data channel, sends session.created first
// (GA shape, the call's effective session), answers session.update with
// session.updated, and echoes the caller's audio back on its own track, so a
// test can prove media flows both ways. ICE is restricted to UDP over IPv4 on
// the loopback interface: the simulator is for local development and tests.
type WebRTCAnswerer struct {
	log      *slog.Logger
	now      func() time.Time
	maxPeers int
	api      *webrtc.API

	mu     sync.Mutex
	peers  map[string]*peer
	closed bool
}

var _ Answerer = (*WebRTCAnswerer)(nil)

// peer is one call's peer connection.
type peer struct {
	pc    *webrtc.PeerConnection
	timer *time.Timer
}

// NewWebRTCAnswerer builds a WebRTCAnswerer. It returns an error only if
// pion's media engine cannot be set up.
func NewWebRTCAnswerer(o WebRTCOptions) (*WebRTCAnswerer, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxPeers <= 0 {
		o.MaxPeers = defaultMaxPeers
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register opus: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return &WebRTCAnswerer{
		log:      o.Logger,
		now:      o.Now,
		maxPeers: o.MaxPeers,
		api:      webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)),
		peers:    make(map[string]*peer),
	}, nil
}

// MustWebRTCAnswerer is NewWebRTCAnswerer for wiring code: it panics on the
// (static, codec registration) error.
func MustWebRTCAnswerer(o WebRTCOptions) *WebRTCAnswerer {
	a, err := NewWebRTCAnswerer(o)
	if err != nil {
		panic("simulator: " + err.Error())
	}
	return a
}

// Answer sets up a peer for call and returns its SDP answer, with all of its
// (loopback) ICE candidates included.
func (a *WebRTCAnswerer) Answer(ctx context.Context, call Call, offer string) (string, error) {
	a.mu.Lock()
	switch {
	case a.closed:
		a.mu.Unlock()
		return "", errors.New("answerer closed")
	case len(a.peers) >= a.maxPeers:
		a.mu.Unlock()
		return "", fmt.Errorf("too many peers (%d)", a.maxPeers)
	}
	a.mu.Unlock()

	pc, err := a.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", fmt.Errorf("new peer connection: %w", err)
	}
	answer, err := a.setup(ctx, pc, call, offer)
	if err != nil {
		_ = pc.Close()
		return "", err
	}
	p := &peer{pc: pc}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		_ = pc.Close()
		return "", errors.New("answerer closed")
	}
	a.peers[call.ID] = p
	p.timer = time.AfterFunc(maxPeerLifetime, func() { a.Hangup(call.ID) })
	a.mu.Unlock()
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		a.log.Debug("simulator peer state", "call_id", call.ID, "state", s.String())
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			a.Hangup(call.ID)
		}
	})
	return answer, nil
}

// setup wires the echo track and the events channel, applies the offer and
// returns the complete answer.
func (a *WebRTCAnswerer) setup(ctx context.Context, pc *webrtc.PeerConnection, call Call, offer string) (string, error) {
	echo, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "simulator")
	if err != nil {
		return "", err
	}
	sender, err := pc.AddTrack(echo)
	if err != nil {
		return "", err
	}
	go drainRTCP(sender)
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if remote.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		for {
			pkt, _, err := remote.ReadRTP()
			if err != nil {
				return
			}
			// A write fails only while the sender is not bound yet or
			// after close; dropping that packet is what a peer does.
			_ = echo.WriteRTP(pkt)
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() != eventsLabel {
			return
		}
		a.serveEvents(dc, call)
	})

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidOffer, err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

func drainRTCP(s *webrtc.RTPSender) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := s.Read(buf); err != nil {
			return
		}
	}
}

// serveEvents speaks the server side of the oai-events channel.
func (a *WebRTCAnswerer) serveEvents(dc *webrtc.DataChannel, call Call) {
	var (
		mu      sync.Mutex
		session map[string]any
	)
	if err := json.Unmarshal(call.Session, &session); err != nil || session == nil {
		session = realtimeSession(nil)
	}
	session["expires_at"] = a.now().Add(maxPeerLifetime).Unix()
	send := func(ev map[string]any) {
		ev["event_id"] = "event_" + randomBase62(21)
		b, err := json.Marshal(ev)
		if err != nil {
			return
		}
		if err := dc.SendText(string(b)); err != nil {
			a.log.Debug("simulator event send failed", "call_id", call.ID, "err", err)
		}
	}
	dc.OnOpen(func() {
		mu.Lock()
		defer mu.Unlock()
		send(map[string]any{"type": "session.created", "session": session})
	})
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		var ev struct {
			Type    string         `json:"type"`
			EventID string         `json:"event_id"`
			Session map[string]any `json:"session"`
		}
		if !msg.IsString || json.Unmarshal(msg.Data, &ev) != nil || ev.Type == "" {
			send(errorEvent("invalid_request_error", "invalid_json", "The event could not be parsed as JSON.", ""))
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch ev.Type {
		case "session.update":
			for k, v := range ev.Session {
				switch k {
				case "type", "id", "object", "model", "expires_at":
					// Fixed for the life of the session.
				default:
					session[k] = v
				}
			}
			send(map[string]any{"type": "session.updated", "session": session})
		default:
			// The simulator generates no responses; other client events are
			// accepted silently.
		}
	})
}

func errorEvent(typ, code, msg, eventID string) map[string]any {
	e := map[string]any{"type": typ, "code": code, "message": msg, "param": nil, "event_id": nil}
	if eventID != "" {
		e["event_id"] = eventID
	}
	return map[string]any{"type": "error", "error": e}
}

// Hangup closes the call's peer connection, if it is still open.
func (a *WebRTCAnswerer) Hangup(callID string) {
	a.mu.Lock()
	p, ok := a.peers[callID]
	delete(a.peers, callID)
	a.mu.Unlock()
	if !ok {
		return
	}
	p.timer.Stop()
	// Close from another goroutine: Hangup may run inside a pion callback.
	go func() { _ = p.pc.Close() }()
	a.log.Debug("simulator peer closed", "call_id", callID)
}

// Peers returns how many peer connections are open.
func (a *WebRTCAnswerer) Peers() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.peers)
}

// Close ends every peer and refuses new offers.
func (a *WebRTCAnswerer) Close() {
	a.mu.Lock()
	a.closed = true
	ids := make([]string, 0, len(a.peers))
	for id := range a.peers {
		ids = append(ids, id)
	}
	a.mu.Unlock()
	for _, id := range ids {
		a.Hangup(id)
	}
}
