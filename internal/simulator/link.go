package simulator

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Kind says which OpenAI API a session belongs to.
type Kind string

// The session kinds.
const (
	// KindRealtime is a Realtime call created through POST /v1/realtime/calls.
	KindRealtime Kind = "realtime"
	// KindLive is a GPT-Live session created through POST /v1/live/sessions.
	KindLive Kind = "live"
)

// Answerer turns a session's SDP offer into an answer and carries the session's
// media and "oai-events" data channel. The simulator keeps the session state and
// the event bus; the Answerer only moves bytes and reports what it sees through
// the session's Link. The default (Options.Answerer nil) is
// AnswererFunc(CannedAnswer): an answer with no media behind it. The real WebRTC
// peer lives in the webrtcpeer subpackage, so binaries that do not need it do not
// link pion.
type Answerer interface {
	// Answer returns the SDP answer for offer. An error wrapping ErrInvalidOffer
	// becomes a 400 invalid_offer; any other error a 500. The Answerer may keep
	// link and call its methods from any goroutine until Hangup(link.ID()).
	Answer(ctx context.Context, offer string, link *Link) (string, error)
	// Hangup is called once a session has ended, whatever the reason (hangup
	// endpoint, session.close, expiry, the peer going away). It must release the
	// peer and must not block on the session's Link.
	Hangup(id string)
}

// AnswererFunc adapts a function to Answerer; its Hangup does nothing.
type AnswererFunc func(ctx context.Context, offer string, link *Link) (string, error)

// Answer calls f.
func (f AnswererFunc) Answer(ctx context.Context, offer string, link *Link) (string, error) {
	return f(ctx, offer, link)
}

// Hangup does nothing.
func (f AnswererFunc) Hangup(string) {}

// ErrInvalidOffer is wrapped by Answerer errors that mean the client's offer is bad.
var ErrInvalidOffer = errors.New("invalid SDP offer")

// Link is the simulator's end of one session's transport, handed to the
// Answerer. Its methods are safe for concurrent use and do nothing once the
// session has ended.
type Link struct {
	sess *session
}

// ID is the session id: the call id (rtc_…) or the Live session id (live_…).
func (l *Link) ID() string { return l.sess.id }

// Kind says whether the session is a Realtime call or a Live session.
func (l *Link) Kind() Kind { return l.sess.kind }

// Open attaches the browser's data channel. The simulator then sends the first
// event (session.created or session.started) and every later server event for
// the channel by calling send with one JSON text message at a time, in order,
// from a single goroutine. Events emitted before Open are queued (at most 256).
// A second Open replaces the first.
func (l *Link) Open(send func(event []byte) error) { l.sess.openDataChannel(send) }

// Receive handles one text message from the browser's data channel as a client
// event. Binary messages should not be passed.
func (l *Link) Receive(event []byte) { l.sess.clientEvent(sourceDataChannel, event) }

// Audio reports one RTP audio packet received from the browser: its RTP
// timestamp (48 kHz clock) and the size of its Opus payload. The Realtime
// simulator's voice activity detection runs on these (see the package doc).
func (l *Link) Audio(rtpTimestamp uint32, payloadBytes int) {
	l.sess.audio(rtpTimestamp, payloadBytes)
}

// Gone reports that the browser's peer went away: graceful when it closed the
// connection or the data channel, not graceful when the connection failed.
// The session ends (a Live session with reason remote_hangup or
// connection_lost).
func (l *Link) Gone(graceful bool) { l.sess.peerGone(graceful) }

// CannedAnswer is the default Answerer: a syntactically plausible SDP answer that
// mirrors the offer's media sections (audio and data channel accepted, anything
// else rejected with port 0). It sets up no real media: no data channel opens and
// no audio flows, but the session exists, sidebands attach to it and the control
// endpoints drive it.
func CannedAnswer(_ context.Context, offer string, _ *Link) (string, error) {
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
