package sessioncfg_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/rtgate/rtgate/internal/sessioncfg"
)

// FuzzParse: any bytes either fail with a *sessioncfg.Error or load into a
// Config whose renders are valid JSON objects.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/rich.json", "../../deploy/session.example.json"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(lockFile))
	f.Add([]byte(`{"realtime":{"tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"f"}}}`))
	f.Add([]byte(`{"live":{"client":{"data_channel":{"allowed_server_events":[{"type":"response.event","response_event":"x"}]}}}}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := sessioncfg.Parse("fuzz.json", data, testEnv())
		if err != nil {
			if _, ok := err.(*sessioncfg.Error); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		rt, err := cfg.Realtime("gpt-realtime-2.1", "marin")
		var m map[string]any
		if err != nil || json.Unmarshal(rt, &m) != nil || m["model"] != "gpt-realtime-2.1" {
			t.Fatalf("render %s: %v", rt, err)
		}
		if json.Unmarshal(cfg.Live(), &m) != nil {
			t.Fatalf("live render %s", cfg.Live())
		}
		// The server's own session is never a change of itself... once
		// OpenAI's defaults are in it; and Check never fails on an object.
		if _, err := cfg.Locks("gpt-realtime-2.1", "marin").Check(rt); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzCheck: a session.updated a browser shaped (the browser controls its
// content) never makes Check fail on a JSON object or panic, and applying
// the update it returns leaves nothing changed.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(echo))
	f.Add([]byte(`{"type":"session.updated","session":{"tools":null,"model":7}}`))
	f.Add([]byte(`{"instructions":{"a":[1,2,{"b":null}]},"audio":"x"}`))
	f.Add([]byte(`{"max_output_tokens":1e400}`))
	cfg, err := sessioncfg.Parse("f.json", []byte(lockFile), testEnv())
	if err != nil {
		f.Fatal(err)
	}
	locks := cfg.Locks("gpt-realtime-2.1", "marin")
	f.Fuzz(func(t *testing.T, data []byte) {
		var v map[string]any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		d, err := locks.Check(data)
		if err != nil {
			return // an event without a session object
		}
		if len(d.Fields) == 0 {
			return
		}
		if s, ok := v["session"].(map[string]any); ok && len(v) > 0 {
			if t, _ := v["type"].(string); len(t) > 8 && t[:8] == "session." {
				v = s
			}
		}
		var ev struct{ Session map[string]any }
		if err := json.Unmarshal(d.Update, &ev); err != nil {
			t.Fatal(err)
		}
		merge(v, ev.Session)
		b, _ := json.Marshal(v)
		if after, err := locks.Check(b); err != nil || len(after.Fields) != 0 {
			t.Fatalf("still changed after the update: %v (%v)\n%s", after.Fields, err, b)
		}
	})
}
