// Package webrtcpeer is the simulator's real WebRTC peer (pion): a
// simulator.Answerer that answers each session's SDP offer, accepts its
// "oai-events" data channel and echoes the caller's audio back. It carries
// bytes only: events go to and from the simulator through the session's
// simulator.Link, which also hears about every audio packet (for the Realtime
// simulator's turn detection) and about the peer going away. The simulator
// keeps the session state, so a binary that does not import this package
// (go build -tags nowebrtcsim) links no pion code and answers with the
// simulator's canned SDP.
//
// ICE is restricted to UDP over IPv4 on the loopback interface: the simulator
// is for local development and tests.
package webrtcpeer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/rtgate/rtgate/internal/simulator"
)

// Limits of the peer.
const (
	// DefaultMaxPeers bounds how many peers one Answerer runs at once.
	DefaultMaxPeers = 32
	// eventsLabel is the data channel label OpenAI's clients open.
	eventsLabel = "oai-events"
	// ICE timeouts: a vanished browser is noticed within seconds (pion's
	// defaults are 5 s disconnected and 25 s failed).
	iceDisconnected = 3 * time.Second
	iceFailed       = 6 * time.Second
	iceKeepalive    = time.Second
	// flushTimeout bounds how long a hang-up waits for the events channel's
	// last messages to be acknowledged.
	flushTimeout = 2 * time.Second
)

// Options configures an Answerer.
type Options struct {
	// Logger receives peer lifecycle lines (never SDP, events or secrets); nil discards.
	Logger *slog.Logger
	// MaxPeers bounds concurrent peers; 0 means DefaultMaxPeers. Offers beyond it fail.
	MaxPeers int
}

// Answerer is a simulator.Answerer backed by one pion peer connection per
// session. It is safe for concurrent use.
type Answerer struct {
	log      *slog.Logger
	maxPeers int
	api      *webrtc.API

	mu     sync.Mutex
	peers  map[string]*peer
	closed bool
}

// peer is one session's connection and, once opened, its events channel.
type peer struct {
	pc *webrtc.PeerConnection
	mu sync.Mutex
	dc *webrtc.DataChannel
}

var _ simulator.Answerer = (*Answerer)(nil)

// New builds an Answerer. It returns an error only if pion's media engine
// cannot be set up.
func New(o Options) (*Answerer, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxPeers <= 0 {
		o.MaxPeers = DefaultMaxPeers
	}
	api, err := LoopbackAPI()
	if err != nil {
		return nil, err
	}
	return &Answerer{
		log:      o.Logger,
		maxPeers: o.MaxPeers,
		api:      api,
		peers:    make(map[string]*peer),
	}, nil
}

// LoopbackAPI returns a pion API with Opus (payload type 111) whose ICE uses
// UDP over IPv4 on the loopback interface only, with the short timeouts the
// Answerer uses. Test clients (peertest) use it too, so both ends agree.
func LoopbackAPI() (*webrtc.API, error) {
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
	se.SetICETimeouts(iceDisconnected, iceFailed, iceKeepalive)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)), nil
}

// Must is New for wiring code: it panics on the (static, codec registration) error.
func Must(o Options) *Answerer {
	a, err := New(o)
	if err != nil {
		panic("webrtcpeer: " + err.Error())
	}
	return a
}

// Answer sets up a peer for the session and returns its SDP answer, with all
// of its (loopback) ICE candidates included.
func (a *Answerer) Answer(ctx context.Context, offer string, link *simulator.Link) (string, error) {
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
	p := &peer{pc: pc}
	answer, err := a.setup(ctx, p, link, offer)
	if err != nil {
		_ = pc.Close()
		return "", err
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		_ = pc.Close()
		return "", errors.New("answerer closed")
	}
	a.peers[link.ID()] = p
	a.mu.Unlock()
	id := link.ID()
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		a.log.Debug("simulator peer state", "session_id", id, "state", s.String())
		switch s {
		case webrtc.PeerConnectionStateFailed:
			link.Gone(false)
		case webrtc.PeerConnectionStateClosed:
			link.Gone(true)
		}
	})
	return answer, nil
}

// setup wires the echo track and the events channel, applies the offer and
// returns the complete answer.
func (a *Answerer) setup(ctx context.Context, p *peer, link *simulator.Link, offer string) (string, error) {
	pc := p.pc
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
			link.Audio(pkt.Timestamp, len(pkt.Payload))
			// A write fails only while the sender is not bound yet or after
			// close; dropping that packet is what a peer does.
			_ = echo.WriteRTP(pkt)
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() != eventsLabel {
			return
		}
		dc.OnOpen(func() {
			p.mu.Lock()
			p.dc = dc
			p.mu.Unlock()
			link.Open(func(ev []byte) error { return dc.SendText(string(ev)) })
		})
		dc.OnMessage(func(msg webrtc.DataChannelMessage) {
			if msg.IsString {
				link.Receive(msg.Data)
			}
		})
		// Without its events channel the session cannot go on: a browser
		// that closes it has hung up.
		dc.OnClose(func() { link.Gone(true) })
	})

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", simulator.ErrInvalidOffer, err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", simulator.ErrInvalidOffer, err)
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

// Hangup closes the session's peer connection, if it is still open. The
// events channel's last messages (session.closed) are given up to
// flushTimeout to be acknowledged first: closing a peer connection aborts its
// SCTP association and drops whatever is still in flight.
func (a *Answerer) Hangup(id string) {
	a.mu.Lock()
	p, ok := a.peers[id]
	delete(a.peers, id)
	a.mu.Unlock()
	if !ok {
		return
	}
	// Close from another goroutine: Hangup may run inside a pion callback.
	go func() {
		p.mu.Lock()
		dc := p.dc
		p.mu.Unlock()
		if dc != nil {
			deadline := time.Now().Add(flushTimeout)
			for dc.ReadyState() == webrtc.DataChannelStateOpen && dc.BufferedAmount() > 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		}
		_ = p.pc.Close()
	}()
	a.log.Debug("simulator peer closed", "session_id", id)
}

// Peers returns how many peer connections are open.
func (a *Answerer) Peers() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.peers)
}

// Close ends every peer and refuses new offers.
func (a *Answerer) Close() {
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
