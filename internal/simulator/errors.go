package simulator

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error types and codes as OpenAI spells them.
const (
	typeInvalidRequest     = "invalid_request_error"
	typeServer             = "server_error"
	typeServiceUnavailable = "service_unavailable_error"
	typeRequests           = "requests"

	codeInvalidAPIKey    = "invalid_api_key"
	codeUnknownParameter = "unknown_parameter"
	codeInvalidType      = "invalid_type"
	codeInvalidValue     = "invalid_value"
	codeMissingParameter = "missing_required_parameter"
	codeEmptyString      = "empty_string"
	codeRateLimited      = "rate_limit_exceeded"
	codeOverloaded       = "server_is_overloaded"
)

// apiError is one OpenAI error response: a status plus the ErrorResponse body
// {"error":{"message","type","param","code"}} (param and code may be null).
type apiError struct {
	Status  int
	Message string
	Type    string
	Param   string // "" encodes as null
	Code    string // "" encodes as null
	// RetryAfter, when > 0, is sent as Retry-After in whole seconds (at least 1).
	RetryAfter time.Duration
	// Body, when set, is sent instead of OpenAI's error shape (Azure's errors).
	Body any
}

type errorBody struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (e *apiError) Error() string { return e.Message }

// writeError writes e in OpenAI's error shape.
func writeError(w http.ResponseWriter, e *apiError) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.RetryAfter)))
	}
	if e.Body != nil {
		writeJSON(w, e.Status, e.Body)
		return
	}
	writeJSON(w, e.Status, errorBody{Error: errorObject{
		Message: e.Message,
		Type:    e.Type,
		Param:   orNull(e.Param),
		Code:    orNull(e.Code),
	}})
}

// retryAfterSeconds rounds d up to whole seconds, minimum 1 (the SPEC's Retry-After).
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// maskKey renders a key the way OpenAI's 401 message does: the first 8 characters,
// one star per hidden character, and the last 4. Keys of 12 characters or fewer are
// shown as stars only (OpenAI's rendering of such keys is not documented; the
// simulator errs on the side of never echoing a key).
func maskKey(k string) string {
	if len(k) <= 12 {
		return strings.Repeat("*", len(k))
	}
	return k[:8] + strings.Repeat("*", len(k)-12) + k[len(k)-4:]
}

func errIncorrectKey(key string) *apiError {
	return &apiError{
		Status: http.StatusUnauthorized,
		Type:   typeInvalidRequest,
		Code:   codeInvalidAPIKey,
		Message: fmt.Sprintf("Incorrect API key provided: %s. You can find your API key at "+
			"https://platform.openai.com/account/api-keys.", maskKey(key)),
	}
}

// errMissingKey is OpenAI's 401 for a request without a Bearer key (code null).
func errMissingKey() *apiError {
	return &apiError{
		Status: http.StatusUnauthorized,
		Type:   typeInvalidRequest,
		Message: "You didn't provide an API key. You need to provide your API key in an " +
			"Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as " +
			"the password field (with blank username) if you're accessing the API from your " +
			"browser and are prompted for a username and password. You can obtain an API key " +
			"from https://platform.openai.com/account/api-keys.",
	}
}

func errServer() *apiError {
	return &apiError{Status: http.StatusInternalServerError, Type: typeServer,
		Message: "The server had an error while processing your request. Sorry about that!"}
}

func errInvalidJSON() *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest,
		Message: "We could not parse the JSON body of your request. (HINT: This likely means " +
			"you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, " +
			"but what was sent was not valid JSON. If you have trouble figuring out how to fix " +
			"this, please contact us through our help center at help.openai.com.)"}
}

func errContentType(got string, want ...string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "unsupported_content_type",
		Message: fmt.Sprintf("Unsupported content type: '%s'. This API method only accepts %s "+
			"requests, but you specified the header 'Content-Type: %s'. Please try again with a "+
			"supported content type.", got, quoteList(want, "or"), got)}
}

func errUnknownParam(path string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Param: path,
		Code: codeUnknownParameter, Message: fmt.Sprintf("Unknown parameter: '%s'.", path)}
}

func errMissingParam(path string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Param: path,
		Code: codeMissingParameter, Message: fmt.Sprintf("Missing required parameter: '%s'.", path)}
}

func errInvalidType(path, want string, got any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Param: path,
		Code: codeInvalidType, Message: fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.",
			path, want, describe(got))}
}

func errInvalidValue(path, got string, supported []string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Param: path,
		Code: codeInvalidValue, Message: fmt.Sprintf("Invalid value: '%s'. Supported values are: %s.",
			got, quoteList(supported, "and"))}
}

func errEmptyString(path string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Param: path,
		Code: codeEmptyString, Message: fmt.Sprintf("Invalid '%s': empty string. Expected a string "+
			"with minimum length 1, but got an empty string instead.", path)}
}

func errRange(path, kind string, below bool, limit, got string) *apiError {
	dir, cmp, code := "above maximum", "<=", kind+"_above_max_value"
	if below {
		dir, cmp, code = "below minimum", ">=", kind+"_below_min_value"
	}
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Param: path, Code: code,
		Message: fmt.Sprintf("Invalid '%s': %s %s value. Expected a value %s %s, but got %s instead.",
			path, kind, dir, cmp, limit, got)}
}

func errBadRequest(param, code, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Param: param, Code: code, Message: msg}
}

// quoteList renders 'a', 'b', and 'c' (or "or" for the last joiner).
func quoteList(vals []string, joiner string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = "'" + v + "'"
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	case 2:
		return q[0] + " " + joiner + " " + q[1]
	}
	return strings.Join(q[:len(q)-1], ", ") + ", " + joiner + " " + q[len(q)-1]
}

// describe names the JSON type of v in OpenAI's wording.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "an integer"
		}
		return "a decimal number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "an unknown type"
}
