package openai

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"reflect"
	"testing"
)

// TestNewRequestMatchesNewRequestWithContext: the mint's request made from
// the shared template is the request http.NewRequestWithContext makes —
// method, URL, protocol, host, length, context, body and GetBody (twice) —
// with a header map of its own each time; other requests are made by
// http.NewRequestWithContext itself.
func TestNewRequestMatchesNewRequestWithContext(t *testing.T) {
	c := New(Options{BaseURL: "http://127.0.0.1:8080/v1/", APIKey: "sk-test"})
	ctx := context.WithValue(context.Background(), testCtxKey{}, "v")
	body := []byte(`{"session":{"type":"realtime","model":"gpt-realtime"}}`)
	for _, r := range []request{
		{method: http.MethodPost, path: mintPath, body: body, header: jsonHeader},
		{method: http.MethodPost, path: "/realtime/calls", body: body},
		{method: http.MethodPost, path: "/realtime/calls/rtc_1/hangup"},
		{method: http.MethodPost, path: mintPath},
	} {
		got, err := c.newRequest(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		var rb io.Reader
		if r.body != nil {
			rb = bytes.NewReader(r.body)
		}
		want, err := http.NewRequestWithContext(ctx, r.method, c.url(r.path), rb)
		if err != nil {
			t.Fatal(err)
		}
		if got.Method != want.Method || got.URL.String() != want.URL.String() || got.Proto != want.Proto ||
			got.ProtoMajor != want.ProtoMajor || got.ProtoMinor != want.ProtoMinor || got.Host != want.Host ||
			got.ContentLength != want.ContentLength || got.Context() != want.Context() || got.Close != want.Close ||
			got.TransferEncoding != nil || len(got.Header) != 0 || (got.GetBody == nil) != (want.GetBody == nil) {
			t.Fatalf("%s %s: got %+v\nwant %+v", r.method, r.path, got, want)
		}
		if reflect.TypeOf(got.Body) != reflect.TypeOf(want.Body) {
			t.Fatalf("%s: body %T, want %T", r.path, got.Body, want.Body)
		}
		if got.Body != nil {
			readAll(t, got.Body, want.Body)
		}
		for range 2 {
			if got.GetBody != nil {
				g, _ := got.GetBody()
				w, _ := want.GetBody()
				readAll(t, g, w)
			}
		}
		got.Header.Set("Authorization", "Bearer x")
		if again, _ := c.newRequest(ctx, r); len(again.Header) != 0 || again.URL.String() != want.URL.String() {
			t.Fatalf("%s: a request's header reached the next: %v", r.path, again.Header)
		}
	}
	if c.mintReq.Header.Get("Authorization") != "" || c.mintReq.Body != nil {
		t.Fatalf("the template changed: %+v", c.mintReq)
	}
}

// testCtxKey marks the test's context.
type testCtxKey struct{}

func readAll(t *testing.T, got, want io.Reader) {
	t.Helper()
	g, err1 := io.ReadAll(got)
	w, err2 := io.ReadAll(want)
	if err1 != nil || err2 != nil || !bytes.Equal(g, w) {
		t.Fatalf("body %q (%v), want %q (%v)", g, err1, w, err2)
	}
}
