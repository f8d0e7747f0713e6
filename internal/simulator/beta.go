package simulator

import "net/http"

// handleBeta answers the retired beta REST endpoints (POST /v1/realtime/sessions and
// /v1/realtime/transcription_sessions). OpenAI turned the beta shape off in May 2026
// and answers beta WebSockets with error code beta_api_shape_disabled; what the REST
// endpoint says now is unverified, so the simulator authenticates the caller as usual
// and then refuses with a 400 carrying that same code and message. rtgate must never
// call these paths; tests can assert it with Hits("/v1/realtime/sessions") == 0.
func (s *Simulator) handleBeta(w http.ResponseWriter, r *http.Request) {
	if err := s.authStandard(r); err != nil {
		writeError(w, err)
		return
	}
	writeError(w, errBadRequest("", codeBetaDisabled,
		"The Realtime Beta API is no longer supported. Please use /v1/realtime/client_secrets for the GA API."))
}

// codeBetaDisabled is the error code OpenAI uses for beta-shaped Realtime requests.
const codeBetaDisabled = "beta_api_shape_disabled"
