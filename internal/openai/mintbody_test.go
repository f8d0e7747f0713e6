package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// TestMintBodyKeyCoversMintParams: the body cache is keyed by what shapes
// the body. A field added to MintParams must be classified here: in the
// key (and in mintBodyKey), or not sent in the body.
func TestMintBodyKeyCoversMintParams(t *testing.T) {
	inKey := map[string]bool{"Model": true, "Voice": true, "Instructions": true, "Session": true, "TTL": true}
	notInBody := map[string]bool{
		"SafetyIdentifier": true, // a header
		"User":             true, // never sent
	}
	for f := range reflect.TypeFor[MintParams]().Fields() {
		if !inKey[f.Name] && !notInBody[f.Name] {
			t.Errorf("MintParams.%s is new: if it shapes the mint's body, add it to mintBodyKey and to inKey here; else to notInBody", f.Name)
		}
	}
}

func TestMintBodiesAreMarshalledOncePerConfiguration(t *testing.T) {
	var c mintBodies
	configs := []MintParams{
		{Model: "gpt-realtime", Voice: "marin", TTL: time.Minute},
		{Model: "gpt-realtime", Voice: "cedar", TTL: time.Minute},
		{Model: "gpt-realtime", Voice: "marin", TTL: time.Minute, Instructions: "Be brief."},
		{Model: "gpt-realtime", Voice: "marin", TTL: 2 * time.Minute},
		{Model: "gpt-realtime-mini", Voice: "marin", TTL: time.Minute},
		{Model: "gpt-realtime", TTL: time.Minute},
		{Model: "gpt-realtime", TTL: time.Minute, Session: json.RawMessage(`{"type":"realtime","model":"gpt-realtime"}`)},
		{Model: "gpt-realtime", TTL: 2 * time.Minute, Session: json.RawMessage(`{"type":"realtime","model":"gpt-realtime"}`)},
		{Model: "gpt-realtime", TTL: time.Minute, Session: json.RawMessage(`{"type":"realtime","model":"gpt-realtime","instructions":"x"}`)},
	}
	first := map[int][]byte{}
	for round := range 3 {
		for i, p := range configs {
			p.User, p.SafetyIdentifier = fmt.Sprint("user-", round), fmt.Sprint("sid-", round) // not in the body
			got, err := c.body(p)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := marshalMintBody(p)
			if !bytes.Equal(got, want) {
				t.Fatalf("config %d: body %s, want %s", i, got, want)
			}
			if round == 0 {
				first[i] = got
			} else if &got[0] != &first[i][0] {
				t.Errorf("config %d: marshalled again in round %d", i, round)
			}
		}
	}
	// Past the bound, bodies are still right, just not kept.
	for i := range maxMintBodies + 10 {
		p := MintParams{Model: "m", Voice: fmt.Sprint("v", i), TTL: time.Minute}
		got, err := c.body(p)
		want, _ := marshalMintBody(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("voice %d: %s, %v", i, got, err)
		}
	}
	n := 0
	for _, cbs := range *c.m.Load() {
		n += len(cbs)
	}
	if n != maxMintBodies {
		t.Errorf("%d bodies kept, want at most %d", n, maxMintBodies)
	}
}

// The documented answer of POST /v1/realtime/client_secrets.
const documentedMint = `{
  "value": "ek_68af296e8e408191a1120ab6383263c2",
  "expires_at": 1756310470,
  "session": {
    "type": "realtime",
    "object": "realtime.session",
    "id": "sess_C9CiUVUzUzYIssh3ELY1d",
    "model": "gpt-realtime",
    "output_modalities": ["audio"],
    "instructions": "You are a friendly assistant.",
    "tools": [],
    "tool_choice": "auto",
    "max_output_tokens": "inf",
    "tracing": null,
    "truncation": "auto",
    "prompt": null,
    "expires_at": 0,
    "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": null, "noise_reduction": null,
      "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200, "idle_timeout_ms": null, "create_response": true, "interrupt_response": true}},
      "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0}},
    "include": null
  }
}`

var mintResponseSeeds = []string{
	documentedMint,
	`{"value":"ek_1","expires_at":1,"session":{"id":"s","model":"m"}}`,
	`{"session":{"model":"m","id":"s","x":{"id":"no"}},"value":"ek_1","expires_at":-5,"value2":"\"}"}`,
	`{"value":"ek_\u00e9","expires_at":1}`, `{"value":"ek_é","expires_at":1}`, "{\"value\":\"ek_\xff\",\"expires_at\":1}",
	`{"Value":"ek_1","expires_at":1}`, `{"VALUE":"ek_1","value":"ek_2","expires_at":1}`, `{"valu\u0065":"ek_1"}`,
	`{"value":"a","value":"b"}`, `{"session":{"id":"a"},"session":{"model":"m"}}`, `{"session":null}`, `{"session":[]}`,
	`{"value":null}`, `{"value":1}`, `{"expires_at":1.5}`, `{"expires_at":1e3}`, `{"expires_at":"1"}`, `{"expires_at":-0}`,
	`{"expires_at":9223372036854775807}`, `{"expires_at":9223372036854775808}`, `{"expires_at":-9223372036854775808}`,
	`{"expires_at":-9223372036854775809}`, `{"expires_at":00}`, `{"ſession":{"id":"s"}}`, `{"session":{"ID":"s"}}`,
	`[]`, `null`, `"x"`, `{}`, ` { } `, `{"a":[{"value":"x"}],"b":"}{"}`, `{"value":"a"`, `{"value":"a"}}`, ``, `{"value":"a",}`,
}

// TestDecodeMintResponseIsJSONUnmarshal: same fields, same error, for the
// documented answer and for answers off its shape.
func TestDecodeMintResponseIsJSONUnmarshal(t *testing.T) {
	scanned := 0
	for _, raw := range mintResponseSeeds {
		checkDecodeMintResponse(t, []byte(raw))
		if _, ok := scanMintResponse([]byte(raw)); ok {
			scanned++
		}
	}
	if mr, ok := scanMintResponse([]byte(documentedMint)); !ok || mr.Value != "ek_68af296e8e408191a1120ab6383263c2" ||
		mr.ExpiresAt != 1756310470 || mr.Session.ID != "sess_C9CiUVUzUzYIssh3ELY1d" || mr.Session.Model != "gpt-realtime" {
		t.Fatalf("the documented answer: %+v, %v", mr, ok)
	}
	if scanned < 8 {
		t.Errorf("only %d of the seeds read without encoding/json", scanned)
	}
}

func FuzzDecodeMintResponse(f *testing.F) {
	for _, s := range mintResponseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkDecodeMintResponse)
}

func checkDecodeMintResponse(t *testing.T, raw []byte) {
	var want mintResponse
	wantErr := json.Unmarshal(raw, &want)
	got, err := decodeMintResponse(raw)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || got != want {
		t.Fatalf("%q:\n got %+v, %v\nwant %+v, %v", raw, got, err, want, wantErr)
	}
	if _, ok := scanMintResponse(raw); ok && wantErr != nil {
		t.Fatalf("%q: scanned, but json.Unmarshal refuses it: %v", raw, wantErr)
	}
}

// TestReadBounded reads as io.ReadAll(io.LimitReader(r, max+1)) does,
// whatever length the answer declared.
func TestReadBounded(t *testing.T) {
	const max = 1000
	for _, n := range []int{0, 1, 511, 512, 513, 999, 1000, 1001, 1002, 5000} {
		body := strings.Repeat("x", n)
		for _, size := range []int64{int64(n), -1, 0, int64(n) / 2, int64(n) * 2, max + 1} {
			for _, half := range []bool{false, true} {
				var r io.Reader = strings.NewReader(body)
				if half {
					r = iotest.HalfReader(r)
				}
				got, err := readBounded(r, size, max)
				want, _ := io.ReadAll(io.LimitReader(strings.NewReader(body), max+1))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%d bytes, declared %d: %d bytes, %v; want %d", n, size, len(got), err, len(want))
				}
			}
		}
	}
	boom := errors.New("reset")
	if _, err := readBounded(iotest.ErrReader(boom), 10, max); !errors.Is(err, boom) {
		t.Fatalf("read error: %v", err)
	}
}

// TestValidJSONIsJSONValid: the scanner's grammar is json.Valid's, down
// to the nesting limit.
func TestValidJSONIsJSONValid(t *testing.T) {
	cases := append([]string{
		`0`, `-0`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `1E-7`, `1.5e3`, `-12.0e+10`, `2a`, ` true `, `tru`, `nul`, `null x`,
		`"\u00e9"`, `"\u00g9"`, `"\x"`, `"\/"`, `"a` + "\x01" + `"`, "\"\xff\"", `[]`, `[1,]`, `[,1]`, `[1 2]`, `{"a":}`,
		`{"a" 1}`, `{1:2}`, `{"a":1,}`, `{"a":[{"b":null}],"c":"d"}`, ``, ` `, `{}}`, `[[[]]]`, `"\uD800"`,
	}, mintResponseSeeds...)
	for _, depth := range []int{maxNestingDepth - 1, maxNestingDepth, maxNestingDepth + 1} {
		cases = append(cases, strings.Repeat("[", depth)+strings.Repeat("]", depth),
			strings.Repeat(`{"a":`, depth)+"1"+strings.Repeat("}", depth))
	}
	for _, c := range cases {
		checkValidJSON(t, []byte(c))
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range mintResponseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkValidJSON)
}

func checkValidJSON(t *testing.T, b []byte) {
	if got, want := validJSON(b), json.Valid(b); got != want {
		t.Fatalf("%.200q: validJSON %v, json.Valid %v", b, got, want)
	}
}
