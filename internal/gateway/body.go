package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
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
	return readBodyTo(nil, r, mediaType, limit)
}

// readBodyTo is readBody appending the body to buf (a pooled buffer, say).
// It reads at most limit+1 bytes: one byte over the limit is a 413, as
// http.MaxBytesReader would have it.
func readBodyTo(buf []byte, r *http.Request, mediaType string, limit int64) ([]byte, error) {
	if err := checkContentType(r.Header.Get("Content-Type"), mediaType); err != nil {
		return buf, unsupportedMediaType(err)
	}
	if r.ContentLength > limit {
		return buf, payloadTooLarge(fmt.Errorf("content length %d", r.ContentLength))
	}
	if r.ContentLength > 0 && int64(cap(buf)-len(buf)) <= r.ContentLength {
		buf = slices.Grow(buf, int(r.ContentLength)+1) // room to see the end in one read
	}
	start := len(buf)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 512)
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)-start) > limit {
			return buf, payloadTooLarge(&http.MaxBytesError{Limit: limit})
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, badRequest("The request body could not be read.", err)
		}
	}
}

// checkContentType reports why the Content-Type header value ctype is not
// mediaType (lower-case) in UTF-8, or nil when it is.
func checkContentType(ctype, mediaType string) error {
	if ctype == mediaType {
		return nil // the common case, without parsing
	}
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
	return strictJSON(body, v)
}

// strictJSON decodes body into v strictly: one object, known fields only,
// nothing after it.
func strictJSON(body []byte, v any) error {
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

// flatJSON reads body when it is in the plain form clients send: one JSON
// object, surrounded by JSON white space only, whose members are each
// named exactly as one of names, at most once, with a string value of
// printable ASCII without escapes. Then vals[i] is the value of names[i]
// (a slice of body), set[i] whether it was present, and ok is true. For
// such a body, strictJSON into a struct with those fields (as *string)
// gives the same values; anything else (other or differently cased names,
// escapes, duplicates, null, numbers, trailing data, malformed JSON) gives
// ok false, and the caller decodes with strictJSON, which decides.
func flatJSON(body []byte, names []string, vals [][]byte, set []bool) (ok bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return skipSpace(body, i+1) == len(body)
	}
	for {
		key, next, ok := plainString(body, i)
		if !ok {
			return false
		}
		field := slices.Index(names, string(key))
		if field < 0 || set[field] {
			return false
		}
		i = skipSpace(body, next)
		if i >= len(body) || body[i] != ':' {
			return false
		}
		val, next, ok := plainString(body, skipSpace(body, i+1))
		if !ok {
			return false
		}
		vals[field], set[field] = val, true
		i = skipSpace(body, next)
		if i >= len(body) {
			return false
		}
		switch body[i] {
		case ',':
			i = skipSpace(body, i+1)
		case '}':
			return skipSpace(body, i+1) == len(body)
		default:
			return false
		}
	}
}

// plainString reads the JSON string at body[i] when it holds printable
// ASCII only and no escape: its content and the index after it.
func plainString(body []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(body) || body[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(body); j++ {
		switch c := body[j]; {
		case c == '"':
			return body[i+1 : j], j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
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
