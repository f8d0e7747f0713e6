package openai

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"regexp"
)

// Call is a WebRTC call created through the unified interface.
type Call struct {
	ID     string // e.g. rtc_…; from the upstream Location header
	Answer string // the SDP answer
}

var callIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// CreateCall forwards a browser's SDP offer to POST /realtime/calls as
// multipart (sdp + session), with the active key, and returns the SDP
// answer and the call id. It goes through the same queue, breaker, key
// ring and retries as MintClientSecret.
func (c *Client) CreateCall(ctx context.Context, offer string, p MintParams) (*Call, error) {
	if c.azure {
		return c.createCallAzure(ctx, offer, p)
	}
	sess, err := SessionJSON(p)
	if err != nil {
		return nil, err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct {
		name, ctype string
		data        []byte
	}{
		{"sdp", "application/sdp", []byte(offer)},
		{"session", "application/json", sess},
	} {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, part.name))
		h.Set("Content-Type", part.ctype)
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(part.data); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return c.postCall(ctx, request{
		method: http.MethodPost, path: "/realtime/calls", body: body.Bytes(),
		header: http.Header{"Content-Type": {mw.FormDataContentType()}},
		safety: p.SafetyIdentifier,
	})
}

// postCall sends a call-creating request and reads the call id (Location)
// and the SDP answer.
func (c *Client) postCall(ctx context.Context, r request) (*Call, error) {
	var call *Call
	err := c.call(ctx, r, func(resp *http.Response, raw []byte) (string, error) {
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			return OutcomeBadResponse, fmt.Errorf("%w: status %d", ErrBadResponse, resp.StatusCode)
		}
		id := ""
		if loc := resp.Header.Get("Location"); loc != "" {
			if u, err := url.Parse(loc); err == nil {
				id = path.Base(u.Path)
			}
		}
		if !callIDPattern.MatchString(id) || len(raw) == 0 {
			return OutcomeBadResponse, fmt.Errorf("%w: no call id or empty answer", ErrBadResponse)
		}
		call = &Call{ID: id, Answer: string(raw)}
		return OutcomeOK, nil
	})
	if err != nil {
		return nil, err
	}
	return call, nil
}

// Hangup ends a call: POST /realtime/calls/{id}/hangup. It goes through
// the same queue, breaker, key ring and retries as the other calls.
func (c *Client) Hangup(ctx context.Context, callID string) error {
	if !callIDPattern.MatchString(callID) {
		return fmt.Errorf("invalid call id")
	}
	return c.call(ctx, request{
		method: http.MethodPost, path: "/realtime/calls/" + callID + "/hangup",
		header: http.Header{"Accept": {"*/*"}}, idempotent: true,
	}, func(*http.Response, []byte) (string, error) { return OutcomeOK, nil })
}
