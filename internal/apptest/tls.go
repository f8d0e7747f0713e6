package apptest

import (
	"crypto/tls"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/tlsx/tlsxtest"
)

// Deployment is an in-process rtgate (an Instance) terminating TLS itself
// with a certificate from a test CA (tlsxtest), a plain-HTTP redirect
// listener, and the OpenAI simulator as its upstream.
type Deployment struct {
	*Instance
	CA       *tlsxtest.CA
	CAFile   string
	CertFile string
	KeyFile  string
	Leaf     *tlsxtest.Leaf
}

// StartTLS runs rtgate with TLS_CERT_FILE/TLS_KEY_FILE from a fresh CA,
// HTTP_REDIRECT_ADDR on loopback, and env layered over Env (a
// value of "-" removes a variable). Its Client trusts the CA, speaks
// HTTP/2 and does not follow redirects. It stops at test cleanup.
func StartTLS(t testing.TB, env map[string]string) *Deployment {
	t.Helper()
	dir := t.TempDir()
	ca := tlsxtest.NewCA(t)
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
	d.Instance = Start(t, withInfoLogs(full))
	d.Client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true},
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return d
}

// StartDeployment runs rtgate with env layered over Env, info-level logs
// and no TLS of its own making: ACME tests configure it through env. URL is
// https when env turns native TLS on. It stops at test cleanup.
func StartDeployment(t testing.TB, env map[string]string) *Deployment {
	t.Helper()
	return &Deployment{Instance: Start(t, withInfoLogs(env))}
}

func withInfoLogs(env map[string]string) map[string]string {
	out := map[string]string{"LOG_LEVEL": "info"}
	for k, v := range env {
		out[k] = v
	}
	return out
}
