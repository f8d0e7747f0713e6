package simulator

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// loopbackAPI is a pion API for a test client, restricted like the answerer.
func loopbackAPI(t *testing.T) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
}

// webrtcClient is a pion peer playing the browser.
type webrtcClient struct {
	pc     *webrtc.PeerConnection
	mic    *webrtc.TrackLocalStaticRTP
	events chan map[string]any
	echoed chan []byte
	dc     *webrtc.DataChannel
}

func newWebRTCClient(t *testing.T) (*webrtcClient, string) {
	t.Helper()
	pc, err := loopbackAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	c := &webrtcClient{pc: pc, events: make(chan map[string]any, 16), echoed: make(chan []byte, 64)}
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
			case c.echoed <- p.Payload:
			default:
			}
		}
	})
	c.dc, err = pc.CreateDataChannel("oai-events", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.dc.OnMessage(func(m webrtc.DataChannelMessage) {
		var ev map[string]any
		if json.Unmarshal(m.Data, &ev) == nil {
			c.events <- ev
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
	return c, pc.LocalDescription().SDP
}

func (c *webrtcClient) next(t *testing.T, typ string) map[string]any {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if ev["type"] == typ {
				return ev
			}
			t.Fatalf("got event %v before %s", ev["type"], typ)
		case <-deadline:
			t.Fatalf("no %s event", typ)
		}
	}
}

func TestWebRTCAnswererSpeaksEventsAndEchoesAudio(t *testing.T) {
	ans, err := NewWebRTCAnswerer(WebRTCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ans.Close)
	e := newEnv(t, func(o *Options) { o.Answerer = ans })
	client, offer := newWebRTCClient(t)

	resp := e.do(t, http.MethodPost, "/v1/realtime/calls", map[string]string{"Content-Type": "application/sdp"}, offer)
	if resp.status != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	callID := strings.TrimPrefix(resp.header.Get("Location"), "/v1/realtime/calls/")
	answer := string(resp.body)
	if !strings.Contains(answer, "a=candidate:") || !strings.Contains(answer, "127.0.0.1") {
		t.Fatalf("answer has no loopback candidate:\n%s", answer)
	}
	if err := client.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}

	created := client.next(t, "session.created")
	sess, _ := created["session"].(map[string]any)
	if sess["type"] != "realtime" || sess["object"] != "realtime.session" || !strings.HasPrefix(created["event_id"].(string), "event_") {
		t.Fatalf("session.created is not in the GA shape: %v", created)
	}
	if exp, _ := sess["expires_at"].(float64); exp <= 0 {
		t.Fatalf("session.created has no expires_at: %v", sess)
	}

	if err := client.dc.SendText(`{"type":"session.update","session":{"type":"realtime","instructions":"Be brief.","model":"other"}}`); err != nil {
		t.Fatal(err)
	}
	updated := client.next(t, "session.updated")
	us, _ := updated["session"].(map[string]any)
	if us["instructions"] != "Be brief." || us["model"] != sess["model"] || us["id"] != sess["id"] {
		t.Fatalf("session.updated does not merge the update over the fixed fields: %v", us)
	}

	if err := client.dc.SendText(`not json`); err != nil {
		t.Fatal(err)
	}
	if ev := client.next(t, "error"); ev["error"].(map[string]any)["code"] != "invalid_json" {
		t.Fatalf("error event: %v", ev)
	}

	// Media both ways: what the client sends comes back on the answerer's track.
	payload := []byte{0xf8, 0xff, 0xfe, 0x42}
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seq := uint16(0)
	for got := false; !got; {
		select {
		case p := <-client.echoed:
			if string(p) != string(payload) {
				t.Fatalf("echoed payload %x, sent %x", p, payload)
			}
			got = true
		case <-tick.C:
			seq++
			_ = client.mic.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(seq) * 960}, Payload: payload})
		case <-deadline:
			t.Fatal("no audio echoed back")
		}
	}

	if ans.Peers() != 1 {
		t.Fatalf("peers = %d, want 1", ans.Peers())
	}
	if r := e.do(t, http.MethodPost, "/v1/realtime/calls/"+callID+"/hangup", nil, ""); r.status != http.StatusOK {
		t.Fatalf("hangup status %d", r.status)
	}
	if ans.Peers() != 0 {
		t.Fatalf("peers after hangup = %d, want 0", ans.Peers())
	}
}

func TestWebRTCAnswererRefusesBadOffersAndExcessPeers(t *testing.T) {
	ans, err := NewWebRTCAnswerer(WebRTCOptions{MaxPeers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ans.Close)
	e := newEnv(t, func(o *Options) { o.Answerer = ans })
	sdp := map[string]string{"Content-Type": "application/sdp"}

	if r := e.do(t, http.MethodPost, "/v1/realtime/calls", sdp, "v=0\r\nm=audio 9 RTP/AVP 0\r\n"); r.status != http.StatusBadRequest {
		t.Fatalf("garbage offer: status %d, want 400: %s", r.status, r.body)
	}
	_, offer := newWebRTCClient(t)
	if r := e.do(t, http.MethodPost, "/v1/realtime/calls", sdp, offer); r.status != http.StatusCreated {
		t.Fatalf("first call: status %d", r.status)
	}
	_, offer2 := newWebRTCClient(t)
	if r := e.do(t, http.MethodPost, "/v1/realtime/calls", sdp, offer2); r.status != http.StatusInternalServerError {
		t.Fatalf("call over MaxPeers: status %d, want 500", r.status)
	}
	ans.Close()
	if ans.Peers() != 0 {
		t.Fatalf("peers after Close = %d", ans.Peers())
	}
}
