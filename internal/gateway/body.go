package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Media types of the request bodies rtgate reads.
const (
	mediaJSON = "application/json"
	mediaSDP  = "application/sdp"
)

// readBody is the one reader of request bodies (stage 8). The body must be
// of mediaType and at most limit bytes; anything else is refused before the
// body is used. Media types and charset names are case-insensitive (RFC
// 9110, sections 8.3.1 and 8.3.2): "Application/JSON; charset=UTF-8" is
// application/json in UTF-8. A charset other than UTF-8 is refused; other
// parameters are ignored.
func readBody(r *http.Request, mediaType string, limit int64) ([]byte, error) {
	if err := checkContentType(r.Header.Get("Content-Type"), mediaType); err != nil {
		return nil, unsupportedMediaType(err)
	}
	if r.ContentLength > limit {
		return nil, payloadTooLarge(fmt.Errorf("content length %d", r.ContentLength))
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, payloadTooLarge(err)
		}
		return nil, badRequest("The request body could not be read.", err)
	}
	return body, nil
}

// checkContentType reports why the Content-Type header value ctype is not
// mediaType (lower-case) in UTF-8, or nil when it is.
func checkContentType(ctype, mediaType string) error {
	mt, params, err := mime.ParseMediaType(ctype) // lower-cases the type and the parameter names
	if err != nil || mt != mediaType {
		return fmt.Errorf("content type %q", ctype)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("charset %q", cs)
	}
	return nil
}

// decodeJSON reads a JSON body (readBody) into v, strictly: one object,
// known fields only, nothing after it.
func (g *Gateway) decodeJSON(r *http.Request, v any) error {
	body, err := readBody(r, mediaJSON, g.o.MaxBodyBytes)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("The request body must be a JSON object with only known fields.", err)
	}
	if dec.More() {
		return badRequest("The request body must be a single JSON object.", errors.New("trailing data"))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("The request body must be a single JSON object.", errors.New("trailing data"))
	}
	return nil
}

// readOffer reads an SDP offer (readBody) and checks that it looks like SDP.
func (g *Gateway) readOffer(r *http.Request) (string, error) {
	body, err := readBody(r, mediaSDP, g.o.Web.MaxSDPBytes)
	if err != nil {
		return "", err
	}
	if err := CheckSDPOffer(body); err != nil {
		return "", badRequest("The request body must be an SDP offer.", err)
	}
	return string(body), nil
}
