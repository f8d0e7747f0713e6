package simulator

import (
	"net/http"
	"time"
)

// FaultKind selects how the simulator misbehaves.
type FaultKind int

// The fault kinds. Error kinds answer before authentication or validation.
const (
	// FaultNone answers normally.
	FaultNone FaultKind = iota
	// FaultServerError answers 500 server_error.
	FaultServerError
	// FaultUnauthorized answers 401 invalid_api_key whatever key was sent.
	FaultUnauthorized
	// FaultRateLimited answers 429 rate_limit_exceeded with Retry-After.
	FaultRateLimited
	// FaultOverloaded answers 503 service_unavailable_error / server_is_overloaded,
	// with Retry-After when Fault.RetryAfter > 0.
	FaultOverloaded
	// FaultSlow waits Fault.Delay (returning early, without a response, if the request
	// context ends), then answers normally.
	FaultSlow
	// FaultDrop closes the connection without writing any response.
	FaultDrop
)

var faultNames = [...]string{"none", "server_error", "unauthorized", "rate_limited", "overloaded", "slow", "drop"}

// String returns a short name for the kind, for logs and test names.
func (k FaultKind) String() string {
	if k >= 0 && int(k) < len(faultNames) {
		return faultNames[k]
	}
	return "unknown"
}

func (k FaultKind) isError() bool {
	switch k {
	case FaultServerError, FaultUnauthorized, FaultRateLimited, FaultOverloaded:
		return true
	}
	return false
}

// Fault describes a misbehaviour applied to the requests that follow SetFault.
type Fault struct {
	Kind FaultKind
	// RetryAfter is sent as Retry-After (whole seconds, at least 1) with 429 and 503.
	// A 429 always carries Retry-After; zero means 1 second.
	RetryAfter time.Duration
	// Delay is how long FaultSlow waits before answering.
	Delay time.Duration
	// Count, if > 0, limits the fault to the next Count requests; after that the
	// simulator reverts to FaultNone. Zero means until changed.
	Count int
}

// SetFault applies f to every following request until changed (or, with f.Count > 0,
// to the next f.Count requests). SetFault(Fault{}) turns faults off.
func (s *Simulator) SetFault(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// CurrentFault returns the fault in force, with Count showing the requests left.
func (s *Simulator) CurrentFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

// takeFaultLocked returns the fault for this request and consumes one unit of Count.
func (s *Simulator) takeFaultLocked() Fault {
	f := s.fault
	if f.Kind == FaultNone {
		return f
	}
	if f.Count > 0 {
		s.fault.Count--
		if s.fault.Count == 0 {
			s.fault = Fault{}
		}
	}
	return f
}

// apiError builds the error response for an error fault kind.
func (f Fault) apiError(r *http.Request) *apiError {
	switch f.Kind {
	case FaultUnauthorized:
		if key, ok := bearer(r); ok {
			return errIncorrectKey(key)
		}
		return errMissingKey()
	case FaultRateLimited:
		ra := f.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		return &apiError{
			Status: http.StatusTooManyRequests,
			Type:   typeRequests,
			Code:   codeRateLimited,
			Message: "Rate limit reached for requests per min (RPM): Limit 5000, Used 5000, Requested 1. " +
				"Please try again in " + time.Duration(retryAfterSeconds(ra)*int(time.Second)).String() +
				". Visit https://platform.openai.com/account/rate-limits to learn more.",
			RetryAfter: ra,
		}
	case FaultOverloaded:
		return &apiError{
			Status:     http.StatusServiceUnavailable,
			Type:       typeServiceUnavailable,
			Code:       codeOverloaded,
			Message:    "The engine is currently overloaded, please try again later.",
			RetryAfter: f.RetryAfter,
		}
	}
	return errServer()
}
