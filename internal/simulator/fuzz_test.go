package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// post serves one standard-key POST to sim in process.
func post(sim *Simulator, path, ctype string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", ctype)
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	return rec
}

// decoded returns the JSON object rec holds, failing the fuzz run otherwise.
func decoded(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("status %d, body not JSON: %q", rec.Code, rec.Body.Bytes())
	}
	return m
}

// FuzzClientSecretsBody feeds arbitrary bodies to the mint endpoint: the simulator
// must answer 200 with a secret or 400 in OpenAI's error shape, never panic.
func FuzzClientSecretsBody(f *testing.F) {
	for _, s := range []string{"", "{}", `{"session":null}`, `{"expires_after":{"seconds":60}}`,
		`{"session":{"type":"realtime","model":"gpt-realtime","audio":{"output":{"voice":"marin"}}}}`,
		`{"session":{"type":"transcription","audio":{"input":{"turn_detection":null}}}}`,
		`{"session":{"type":"realtime","audio":{"input":{"turn_detection":{"type":"semantic_vad"}}}}}`,
		`[1,2]`, `{"session":{"type":"realtime","tools":[{"type":"function"}]}}`} {
		f.Add([]byte(s))
	}
	sim := New(Options{APIKeys: []string{testKey}})
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := post(sim, "/v1/realtime/client_secrets", "application/json", body)
		m := decoded(t, rec)
		switch rec.Code {
		case http.StatusOK:
			if v, _ := m["value"].(string); !secretPattern.MatchString(v) {
				t.Fatalf("200 without a secret: %s", rec.Body.Bytes())
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if e, _ := m["error"].(map[string]any); len(e) != 4 {
				t.Fatalf("error not in OpenAI shape: %s", rec.Body.Bytes())
			}
		default:
			t.Fatalf("unexpected status %d", rec.Code)
		}
	})
}

// FuzzCreateCall feeds arbitrary multipart-ish and SDP bodies to /v1/realtime/calls.
func FuzzCreateCall(f *testing.F) {
	f.Add("application/sdp", []byte(offer))
	f.Add("multipart/form-data; boundary=X", []byte("--X\r\nContent-Disposition: form-data; name=\"sdp\"\r\n\r\nv=0\r\nm=audio 9 RTP 0\r\n--X--\r\n"))
	f.Add("multipart/form-data; boundary=X", []byte("--X\r\nContent-Disposition: form-data; name=\"session\"\r\n\r\n{\"session\":{}}\r\n--X--\r\n"))
	sim := New(Options{APIKeys: []string{testKey}})
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		rec := post(sim, "/v1/realtime/calls", ct, body)
		switch rec.Code {
		case http.StatusCreated:
			if checkOffer(rec.Body.String()) != nil {
				t.Fatalf("201 with a non-SDP answer: %q", rec.Body.String())
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			var m struct{ Error map[string]any }
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || len(m.Error) != 4 {
				t.Fatalf("error not in OpenAI shape: %q", rec.Body.Bytes())
			}
		default:
			t.Fatalf("unexpected status %d", rec.Code)
		}
	})
}

// FuzzLiveCreateBody feeds arbitrary bodies to POST /v1/live/sessions: 201
// with a live_ id, or an OpenAI-shaped 4xx, never a panic.
func FuzzLiveCreateBody(f *testing.F) {
	for _, s := range []string{"", "{}", `{"session":{"model":"gpt-live-1"},"transport":{"type":"webrtc","sdp":` + mustQuote(offer) + `}}`,
		`{"session":{"model":"gpt-live-1","delegation":{"type":"responses","responses":{"model":"m"}}},"transport":{"sdp":"v=0"}}`,
		`{"session":{"model":"gpt-live-1","client":{"data_channel":{"allowed_server_events":[{"type":"response.event","response_event":"x"}]}}},"transport":{}}`,
		`{"session":{"model":"gpt-live-1","input":[{"role":"assistant","content":[{"type":"output_text","text":"t"}]}]},"transport":{"type":"sip"}}`} {
		f.Add([]byte(s))
	}
	sim := New(Options{APIKeys: []string{testKey}, TickInterval: time.Hour})
	f.Cleanup(sim.Close)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := post(sim, "/v1/live/sessions", "application/json", body)
		m := decoded(t, rec)
		switch rec.Code {
		case http.StatusCreated:
			if s, _ := m["session"].(map[string]any); !strings.HasPrefix(fmt.Sprint(s["id"]), "live_") {
				t.Fatalf("201 without a session id: %s", rec.Body.Bytes())
			}
		case http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
			if e, _ := m["error"].(map[string]any); len(e) != 4 {
				t.Fatalf("error not in OpenAI shape: %s", rec.Body.Bytes())
			}
		default:
			t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body.Bytes())
		}
	})
}

// FuzzClientEvent feeds arbitrary client events to a Realtime call and a
// Live session (as from the browser): whatever arrives, the simulator answers
// with events or errors and never panics.
func FuzzClientEvent(f *testing.F) {
	for _, s := range []string{`{"type":"session.update","session":{"type":"realtime","instructions":"x"}}`,
		`{"type":"response.create","response":{"instructions":"y"}}`, `{"type":"conversation.item.create","item":{"content":[{"type":"input_audio","audio":"AAAA"}]}}`,
		`{"type":"session.update","session":{"delegation":{"type":"client","acknowledgement_delay_ms":5}}}`,
		`{"type":"session.instructions.append","content":"c","delegation_id":null}`, `{"type":"session.close"}`, `{"type":5}`, `[]`, `x`} {
		f.Add([]byte(s))
	}
	sim := New(Options{APIKeys: []string{testKey}, TickInterval: time.Hour})
	f.Cleanup(sim.Close)
	create := func(path, ctype, body string) string {
		rec := post(sim, path, ctype, []byte(body))
		if rec.Code != http.StatusCreated {
			f.Fatalf("create %s: %d %s", path, rec.Code, rec.Body.Bytes())
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			return loc[strings.LastIndex(loc, "/")+1:]
		}
		var m struct {
			Session struct{ ID string } `json:"session"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &m)
		return m.Session.ID
	}
	f.Fuzz(func(t *testing.T, event []byte) {
		call := create("/v1/realtime/calls", "application/sdp", offer)
		live := create("/v1/live/sessions", "application/json", `{"session":{"model":"gpt-live-1"},"transport":{"sdp":`+mustQuote(offer)+`}}`)
		for _, id := range []string{call, live} {
			if err := sim.ClientEvent(id, event); err != nil && err != ErrUnknownSession {
				t.Fatal(err)
			}
		}
		sim.Close()
	})
}
