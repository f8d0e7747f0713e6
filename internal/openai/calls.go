package openai

import (
	"bytes"
	"context"
	"fmt"
	"io"
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
// multipart (sdp + session), with the standard key, and returns the SDP
// answer and the call id.
func (c *Client) CreateCall(ctx context.Context, offer string, p MintParams) (*Call, error) {
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
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/realtime/calls", &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if p.SafetyIdentifier != "" {
		req.Header.Set("OpenAI-Safety-Identifier", p.SafetyIdentifier)
	}
	start := c.now()
	call, outcome, err := c.doCall(req)
	if c.obs != nil {
		c.obs.ObserveUpstream(outcome, c.now().Sub(start))
	}
	return call, err
}

func (c *Client) doCall(req *http.Request) (*Call, string, error) {
	resp, raw, outcome, err := c.roundTrip(req)
	if err != nil {
		return nil, outcome, err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return nil, outcome, fmt.Errorf("%w: status %d", ErrBadResponse, resp.StatusCode)
	}
	id := ""
	if loc := resp.Header.Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil {
			id = path.Base(u.Path)
		}
	}
	if !callIDPattern.MatchString(id) || len(raw) == 0 {
		return nil, OutcomeBadResponse, fmt.Errorf("%w: no call id or empty answer", ErrBadResponse)
	}
	return &Call{ID: id, Answer: string(raw)}, OutcomeOK, nil
}

// Hangup ends a call: POST /realtime/calls/{id}/hangup.
func (c *Client) Hangup(ctx context.Context, callID string) error {
	if !callIDPattern.MatchString(callID) {
		return fmt.Errorf("invalid call id")
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/realtime/calls/"+callID+"/hangup", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "*/*")
	start := c.now()
	_, _, outcome, err := c.roundTrip(req)
	if c.obs != nil {
		c.obs.ObserveUpstream(outcome, c.now().Sub(start))
	}
	return err
}

// roundTrip sends req and reads a bounded body. A non-2xx answer becomes a
// *StatusError.
func (c *Client) roundTrip(req *http.Request) (*http.Response, []byte, string, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		outcome, err := classify(req.Context(), err)
		return nil, nil, outcome, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		outcome, err := classify(req.Context(), err)
		return nil, nil, outcome, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, raw, statusOutcome(resp.StatusCode), statusError(resp, raw)
	}
	if len(raw) > maxResponseBytes {
		return resp, nil, OutcomeBadResponse, fmt.Errorf("%w: body over %d bytes", ErrBadResponse, maxResponseBytes)
	}
	return resp, raw, OutcomeOK, nil
}

func statusOutcome(status int) string {
	if status >= 500 {
		return OutcomeServerError
	}
	return OutcomeClientError
}
