package tlsxtest

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/app"
	"github.com/rtgate/rtgate/internal/apptest"
	"github.com/rtgate/rtgate/internal/config"
	"github.com/rtgate/rtgate/internal/simulator"
)

// Deployment is an in-process rtgate terminating TLS itself with a
// certificate from a test CA, a plain-HTTP redirect listener, and the
// OpenAI simulator as its upstream.
type Deployment struct {
	App         *app.App
	URL         string // https://127.0.0.1:port
	RedirectURL string // http://127.0.0.1:port
	CA          *CA
	CAFile      string
	CertFile    string
	KeyFile     string
	Leaf        *Leaf
	Sim         *simulator.Simulator
	Logs        *apptest.Buffer
	// Client trusts the CA and speaks HTTP/2.
	Client *http.Client

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// StartTLS runs rtgate with TLS_CERT_FILE/TLS_KEY_FILE from a fresh CA,
// HTTP_REDIRECT_ADDR on loopback, and env layered over apptest.Env (a
// value of "-" removes a variable). It stops at test cleanup.
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
	d.start(t, full)
	d.Client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true},
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return d
}

// Start runs rtgate with env layered over apptest.Env (a value of "-"
// removes a variable) and no TLS of its own making: ACME tests configure it
// through env. URL is https when env turns native TLS on. It stops at test
// cleanup.
func Start(t testing.TB, env map[string]string) *Deployment {
	t.Helper()
	d := &Deployment{}
	d.start(t, env)
	return d
}

func (d *Deployment) start(t testing.TB, env map[string]string) {
	t.Helper()
	key := apptest.RandomKey()
	d.Sim = simulator.New(simulator.Options{APIKeys: []string{key}})
	simSrv := httptest.NewServer(d.Sim)
	t.Cleanup(simSrv.Close)

	full := apptest.Env(key, simSrv.URL+"/v1")
	full["LOG_LEVEL"] = "info"
	for k, v := range env {
		if v == "-" {
			delete(full, k)
		} else {
			full[k] = v
		}
	}
	cfg, _, err := config.Load(func(k string) string { return full[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	d.Logs = &apptest.Buffer{}
	a, err := app.New(cfg, app.NewLogger(d.Logs, cfg.LogLevel))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	d.App = a
	d.URL = "http://" + a.PublicAddr()
	if cfg.TLS.Native() {
		d.URL = "https://" + a.PublicAddr()
	}
	if ra := a.RedirectAddr(); ra != "" {
		d.RedirectURL = "http://" + ra
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan error, 1)
	go func() { d.done <- a.Run(ctx) }()
	t.Cleanup(func() { _ = d.Stop() })
}

// Stop shuts the deployment down and waits for it.
func (d *Deployment) Stop() error {
	var err error
	d.once.Do(func() {
		d.cancel()
		err = <-d.done
	})
	return err
}
