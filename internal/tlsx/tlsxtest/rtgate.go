package tlsxtest

import (
	"crypto/tls"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/apptest"
)

// Deployment is an in-process rtgate (an apptest.Instance) terminating TLS
// itself with a certificate from a test CA, a plain-HTTP redirect listener,
// and the OpenAI simulator as its upstream.
type Deployment struct {
	*apptest.Instance
	CA       *CA
	CAFile   string
	CertFile string
	KeyFile  string
	Leaf     *Leaf
}

// StartTLS runs rtgate with TLS_CERT_FILE/TLS_KEY_FILE from a fresh CA,
// HTTP_REDIRECT_ADDR on loopback, and env layered over apptest.Env (a
// value of "-" removes a variable). Its Client trusts the CA, speaks
// HTTP/2 and does not follow redirects. It stops at test cleanup.
func StartTLS(t testing.TB, env map[string]string) *Deployment {
	t.Helper()
	dir := t.TempDir()
	ca := NewCA(t)
	leaf := ca.Issue(t, 90*24*time.Hour, "127.0.0.1", "localhost")
	d := &Deployment{CA: ca, CAFile: ca.WriteCA(t, dir), CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), Leaf: leaf}
	leaf.Write(t, d.CertFile, d.KeyFile)

	full := map[string]string{
		"TLS_CERT_FILE":      d.CertFile,
		"TLS_KEY_FILE":       d.KeyFile,
		"HTTP_REDIRECT_ADDR": "127.0.0.1:0",
	}
	for k, v := range env {
		full[k] = v
	}
	d.Instance = apptest.Start(t, withInfoLogs(full))
	d.Client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true},
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return d
}

// Start runs rtgate with env layered over apptest.Env and no TLS of its own
// making: ACME tests configure it through env. URL is https when env turns
// native TLS on. It stops at test cleanup.
func Start(t testing.TB, env map[string]string) *Deployment {
	t.Helper()
	return &Deployment{Instance: apptest.Start(t, withInfoLogs(env))}
}

func withInfoLogs(env map[string]string) map[string]string {
	out := map[string]string{"LOG_LEVEL": "info"}
	for k, v := range env {
		out[k] = v
	}
	return out
}
