package simulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

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
		req := httptest.NewRequest(http.MethodPost, "/v1/realtime/client_secrets", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("status %d, body not JSON: %q", rec.Code, rec.Body.Bytes())
		}
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
		req := httptest.NewRequest(http.MethodPost, "/v1/realtime/calls", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
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
