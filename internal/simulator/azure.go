package simulator

import (
	"net/http"
	"strings"
)

// azurePrefix is where Azure OpenAI serves the v1 API on a resource
// (https://{resource}.openai.azure.com/openai/v1).
const azurePrefix = "/openai/v1"

// azureKeyHeader carries a standard key in Azure mode.
const azureKeyHeader = "api-key"

// errAzureUnauthorized is Azure's 401 for a missing or wrong key: a body with
// only code and message, not OpenAI's four-member error.
func errAzureUnauthorized() *apiError {
	return &apiError{Status: http.StatusUnauthorized, Body: map[string]any{"error": map[string]any{
		"code": "401",
		"message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to " +
			"provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
	}}}
}

// errAzureAPIVersion is Azure's answer to an api-version parameter on the v1 path.
func errAzureAPIVersion() *apiError {
	return &apiError{Status: http.StatusBadRequest, Body: map[string]any{"error": map[string]any{
		"code": "BadRequest", "message": "api-version query parameter is not allowed when using /v1 path",
	}}}
}

// errDeploymentNotFound is Azure's 404 for a model that names no deployment.
func errDeploymentNotFound() *apiError {
	return &apiError{Status: http.StatusNotFound, Body: map[string]any{"error": map[string]any{
		"code": "DeploymentNotFound",
		"message": "The API deployment for this resource does not exist. If you created the deployment " +
			"within the last 5 minutes, please wait a moment and try again.",
	}}}
}

// checkDeployment, in Azure mode with Options.Deployments, refuses a model that
// is not one of them. Outside Azure mode it accepts anything.
func (s *Simulator) checkDeployment(_ string, model any) *apiError {
	if !s.azure || len(s.deployments) == 0 {
		return nil
	}
	name, _ := model.(string)
	if _, ok := s.deployments[name]; !ok {
		return errDeploymentNotFound()
	}
	return nil
}

// azureStandardKey authenticates an Azure-mode request that needs a standard
// key: it must come in api-key; a Bearer token is not a key there.
func (s *Simulator) azureStandardKey(r *http.Request) *apiError {
	key := strings.TrimSpace(r.Header.Get(azureKeyHeader))
	s.mu.Lock()
	_, valid := s.keys[key]
	s.mu.Unlock()
	if key == "" || !valid {
		return errAzureUnauthorized()
	}
	return nil
}
