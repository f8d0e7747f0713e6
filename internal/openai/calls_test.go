package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/openai"
	"github.com/rtgate/rtgate/internal/simulator"
)

const offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sctp-port:5000\r\n"

func newClient(t *testing.T) (*openai.Client, *simulator.Simulator) {
	t.Helper()
	key := "sk-test-0123456789abcdef"
	sim := simulator.New(simulator.Options{APIKeys: []string{key}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return openai.New(openai.Options{BaseURL: srv.URL + "/v1", APIKey: key, Timeout: 2 * time.Second}), sim
}

func TestCreateCallAndHangup(t *testing.T) {
	c, sim := newClient(t)
	call, err := c.CreateCall(context.Background(), offer, openai.MintParams{Model: "gpt-realtime", Voice: "marin"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(call.ID, "rtc_") || !strings.HasPrefix(call.Answer, "v=0") {
		t.Fatalf("call %+v", call)
	}
	if !slices.Contains(sim.Calls(), call.ID) {
		t.Fatalf("simulator does not know call %s", call.ID)
	}
	up := sim.LastRequest()
	if !strings.HasPrefix(up.Header.Get("Content-Type"), "multipart/form-data") || !strings.Contains(string(up.Body), `"model":"gpt-realtime"`) {
		t.Errorf("upstream request: %s %s", up.Header.Get("Content-Type"), up.Body)
	}
	if err := c.Hangup(context.Background(), call.ID); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(sim.Calls(), call.ID) {
		t.Error("call still live after hangup")
	}
	var se *openai.StatusError
	if err := c.Hangup(context.Background(), call.ID); !errors.As(err, &se) || se.Status != 404 {
		t.Errorf("second hangup: %v", err)
	}
	if err := c.Hangup(context.Background(), "../../etc"); err == nil {
		t.Error("path-like call id accepted")
	}
}

func TestARenderedSessionIsSentAsIs(t *testing.T) {
	c, sim := newClient(t)
	sess := `{"type":"realtime","model":"gpt-realtime-2.1","instructions":"From the file.","max_output_tokens":256,"audio":{"output":{"voice":"cedar","speed":1.25}}}`
	p := openai.MintParams{Model: "gpt-realtime-2.1", Voice: "cedar", TTL: time.Minute, Session: json.RawMessage(sess)}
	if _, err := c.MintClientSecret(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	var mint struct{ Session json.RawMessage }
	if err := json.Unmarshal(sim.LastRequest().Body, &mint); err != nil || string(mint.Session) != sess {
		t.Errorf("client_secrets session %s (%v)", mint.Session, err)
	}
	call, err := c.CreateCall(context.Background(), offer, p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sim.LastRequest().Body), "\r\n"+sess+"\r\n") {
		t.Errorf("calls body %s", sim.LastRequest().Body)
	}
	got, _ := sim.LookupCall(call.ID)
	if !strings.Contains(string(got.Session), `"max_output_tokens":256`) || !strings.Contains(string(got.Session), `"speed":1.25`) {
		t.Errorf("the simulator's session %s", got.Session)
	}
}

func TestCreateCallRejectsBadOffer(t *testing.T) {
	c, _ := newClient(t)
	var se *openai.StatusError
	if _, err := c.CreateCall(context.Background(), "hello", openai.MintParams{Model: "gpt-realtime"}); !errors.As(err, &se) || se.Status != 400 {
		t.Fatalf("err %v", err)
	}
}
