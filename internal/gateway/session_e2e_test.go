package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"reflect"
	"testing"
)

// richFile holds every member rtgate renders (sessioncfg's test file).
const richFile = "../sessioncfg/testdata/rich.json"

// fileRealtime is the rich file's realtime part.
func fileRealtime(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(richFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Realtime map[string]any }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Realtime
}

// holds reports whether every member of want is in got with the same value.
func holds(got, want any) bool {
	w, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(got, want)
	}
	g, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range w {
		if !holds(g[k], v) {
			return false
		}
	}
	return true
}

// multipartSession is the session part of a recorded /realtime/calls request.
func multipartSession(t *testing.T, contentType string, body []byte) map[string]any {
	t.Helper()
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			t.Fatal("no session part")
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.FormName() == "session" {
			var s map[string]any
			b, _ := io.ReadAll(p)
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
}

// TestSessionFileReachesEveryUpstream: with SESSION_CONFIG_FILE, a mint (with
// and without the client's allowlisted choice) and a proxied call send the
// file's whole session upstream, the simulator (strict about unknown members)
// takes it, and the environment's model and voice are in it.
func TestSessionFileReachesEveryUpstream(t *testing.T) {
	in, rec := startRecorded(t, map[string]string{
		"SESSION_CONFIG_FILE":     richFile,
		"REALTIME_ALLOWED_MODELS": "gpt-realtime-2.1-mini",
		"REALTIME_ALLOWED_VOICES": "cedar",
		"RATE_LIMIT_MAX_REQUESTS": "1000",
	})
	want := fileRealtime(t)
	upstream := func() map[string]any {
		var body struct{ Session map[string]any }
		if err := json.Unmarshal(in.Sim.LastRequest().Body, &body); err != nil {
			t.Fatal(err)
		}
		return body.Session
	}
	for _, tc := range []struct {
		name, method, body string
		headers            []string
		model, voice       string
	}{
		{"GET: the server's defaults", "GET", "", nil, "gpt-realtime-2.1", "marin"},
		{"POST: the client's allowlisted choice", "POST", `{"model":"gpt-realtime-2.1-mini","voice":"cedar"}`,
			[]string{"Content-Type: application/json"}, "gpt-realtime-2.1-mini", "cedar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := in.Do(t, tc.method, "/api/realtime-session", tc.body, tc.headers...)
			if r.StatusCode != 200 {
				t.Fatalf("status %d: %s", r.StatusCode, r.Body)
			}
			sent := upstream()
			if !holds(sent, want) {
				t.Errorf("the upstream session lacks the file's members:\n%v", sent)
			}
			voice := sent["audio"].(map[string]any)["output"].(map[string]any)["voice"]
			if sent["model"] != tc.model || voice != tc.voice || sent["type"] != "realtime" {
				t.Errorf("model %v voice %v", sent["model"], voice)
			}
			// The simulator's session (what the browser will see) has them too.
			var minted struct{ Session map[string]any }
			_ = json.Unmarshal([]byte(r.Body), &minted)
			if !holds(minted.Session, want) {
				t.Errorf("the minted session lacks the file's members:\n%v", minted.Session)
			}
		})
	}
	t.Run("a proxied call", func(t *testing.T) {
		createCall(t, in)
		up := rec.last("/v1/realtime/calls") // the call's sideband is attached after it
		sent := multipartSession(t, up.Header.Get("Content-Type"), up.Body)
		if !holds(sent, want) || sent["model"] != "gpt-realtime-2.1" {
			t.Errorf("the call's session part lacks the file's members:\n%v", sent)
		}
		calls := in.Sim.Calls()
		c, ok := in.Sim.LookupCall(calls[len(calls)-1])
		var live map[string]any
		if !ok || json.Unmarshal(c.Session, &live) != nil || !holds(live, want) {
			t.Errorf("the simulator's call session lacks the file's members: %s", c.Session)
		}
	})
}
