// Package peertest is a pion WebRTC client that plays the browser against the
// simulator in tests: it offers an Opus microphone track and the "oai-events"
// data channel, collects the server events and the echoed audio, and writes
// RTP packets of chosen sizes so a test can drive the simulator's turn
// detection deterministically (RTP timestamps, not wall time, count).
package peertest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/rtgate/rtgate/internal/simulator/webrtcpeer"
)

// Payload sizes Speak uses: comfortably above and below
// simulator.VoicedPayloadBytes.
const (
	// VoicedBytes is the payload of a voiced packet (Opus speech is tens of bytes).
	VoicedBytes = 80
	// SilentBytes is the payload of a silent packet (Opus silence is about 3 bytes).
	SilentBytes = 3
)

// Wait bounds every wait of the client.
const Wait = 20 * time.Second

// Client is one browser-like peer.
type Client struct {
	// PC is the peer connection; Close it to hang up the way a browser does.
	PC *webrtc.PeerConnection
	// DC is the "oai-events" data channel.
	DC *webrtc.DataChannel
	// Offer is the complete SDP offer (ICE gathered).
	Offer string
	// Events receives every server event (decoded JSON) in order.
	Events chan map[string]any
	// Echoed receives the payloads of the audio the peer sends back.
	Echoed chan []byte

	mic  *webrtc.TrackLocalStaticRTP
	open chan struct{}
	mu   sync.Mutex
	seq  uint16
	ts   uint32
}

// API returns the pion API the simulator's peer uses (loopback UDP4 only).
func API(t testing.TB) *webrtc.API {
	t.Helper()
	api, err := webrtcpeer.LoopbackAPI()
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// New creates a client and its offer; the peer connection is closed at cleanup.
func New(t testing.TB) *Client {
	t.Helper()
	pc, err := API(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	c := &Client{PC: pc, Events: make(chan map[string]any, 4096), Echoed: make(chan []byte, 256), open: make(chan struct{})}
	c.mic, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "client")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(c.mic); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case c.Echoed <- p.Payload:
			default:
			}
		}
	})
	c.DC, err = pc.CreateDataChannel("oai-events", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.DC.OnOpen(func() { close(c.open) })
	c.DC.OnMessage(func(m webrtc.DataChannelMessage) {
		var ev map[string]any
		if json.Unmarshal(m.Data, &ev) == nil {
			c.Events <- ev
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	c.Offer = pc.LocalDescription().SDP
	return c
}

// Accept applies the simulator's answer and waits for the data channel to open.
func (c *Client) Accept(t testing.TB, answer string) {
	t.Helper()
	if err := c.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.open:
	case <-time.After(Wait):
		t.Fatal("the data channel did not open")
	}
}

// Next returns the next event, failing unless it has type typ.
func (c *Client) Next(t testing.TB, typ string) map[string]any {
	t.Helper()
	select {
	case ev := <-c.Events:
		if ev["type"] != typ {
			t.Fatalf("got event %v, want %s: %v", ev["type"], typ, ev)
		}
		return ev
	case <-time.After(Wait):
		t.Fatalf("no %s event", typ)
	}
	return nil
}

// WaitFor skips events until one of type typ arrives and returns it.
func (c *Client) WaitFor(t testing.TB, typ string) map[string]any {
	t.Helper()
	deadline := time.After(Wait)
	for {
		select {
		case ev := <-c.Events:
			if ev["type"] == typ {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event", typ)
		}
	}
}

// Send writes one client event (marshalled to JSON) on the data channel.
func (c *Client) Send(t testing.TB, ev any) {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DC.SendText(string(b)); err != nil {
		t.Fatal(err)
	}
}

// SendRaw writes a text message as is.
func (c *Client) SendRaw(t testing.TB, msg string) {
	t.Helper()
	if err := c.DC.SendText(msg); err != nil {
		t.Fatal(err)
	}
}

// Speak writes voiced 20 ms packets, then silent ones, with RTP timestamps
// advancing 960 samples (20 ms at 48 kHz) per packet.
func (c *Client) Speak(t testing.TB, voiced, silent int) {
	t.Helper()
	for i := 0; i < voiced+silent; i++ {
		size := VoicedBytes
		if i >= voiced {
			size = SilentBytes
		}
		c.Packet(t, size)
	}
}

// Packet writes one 20 ms RTP packet with a payload of size bytes. Writes are
// paced lightly so loopback UDP does not drop them.
func (c *Client) Packet(t testing.TB, size int) {
	t.Helper()
	c.mu.Lock()
	c.seq++
	c.ts += 960
	p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: c.seq, Timestamp: c.ts}, Payload: make([]byte, size)}
	for i := range p.Payload {
		p.Payload[i] = byte(0xf8 + i)
	}
	c.mu.Unlock()
	if err := c.mic.WriteRTP(p); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
}

// WaitEcho writes silent packets until one comes back, proving media flows
// both ways (and that the first packets are no longer lost to DTLS setup).
func (c *Client) WaitEcho(t testing.TB) []byte {
	t.Helper()
	deadline := time.After(Wait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case p := <-c.Echoed:
			return p
		case <-tick.C:
			c.Packet(t, SilentBytes)
		case <-deadline:
			t.Fatal("no audio echoed back")
		}
	}
}
