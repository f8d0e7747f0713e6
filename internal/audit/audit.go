// Package audit implements `rtgate audit`: black-box checks of a live
// deployment against the guide's security checklist. Each check ends PASS,
// FAIL or SKIP with a one-line reason; any FAIL makes the exit code 1.
//
// The audit is careful with the deployment: everything except the burst is
// either a preflight, a refused method or a refused body, which a sound
// deployment answers without minting. The burst (rate-limit check) does mint
// one token per accepted request, stops at the first 429 or at a cap, and
// the report says up front that it will and afterwards how many it sent.
package audit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Status is the outcome of one check.
type Status string

// Check outcomes.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Result is one check's outcome.
type Result struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Reason string `json:"reason"`
}

// Summary counts the outcomes.
type Summary struct {
	Pass int `json:"pass"`
	Fail int `json:"fail"`
	Skip int `json:"skip"`
}

// Report is the whole audit, as printed by --json.
type Report struct {
	Target       string   `json:"target"`
	Endpoint     string   `json:"endpoint"`
	Origin       string   `json:"origin,omitempty"`
	Notice       string   `json:"notice"`
	Checks       []Result `json:"checks"`
	Summary      Summary  `json:"summary"`
	RequestsSent int      `json:"requests_sent"`
	TokensMinted int      `json:"tokens_minted"`
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool { return r.Summary.Fail > 0 }

// Result returns the named check's result, or a zero Result.
func (r *Report) Result(name string) Result {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return Result{}
}

// Options configures an audit.
type Options struct {
	// URL is the deployment: https://host[:port][/path]. A path other than
	// "/" is the token endpoint; otherwise DefaultEndpoint is used.
	URL string
	// Origin is an origin the deployment allows (ALLOWED_ORIGINS); without
	// it the look-alike and preflight checks are skipped.
	Origin string
	// HTTPURL is the plain-HTTP address expected to redirect; by default
	// http://host when URL uses the default port, else the check is skipped.
	HTTPURL string
	// RootCAs, when set, replaces the system roots (a test or private CA).
	RootCAs *x509.CertPool
	// BurstCap bounds the rate-limit burst (default 60).
	BurstCap int
	// MinValidity is how long the certificate must still be valid (default 14 days).
	MinValidity time.Duration
	// Timeout bounds each request (default 10s).
	Timeout time.Duration
	// Now is the clock for certificate expiry (default time.Now).
	Now func() time.Time
}

// DefaultEndpoint is the token endpoint audited when the URL has no path.
const DefaultEndpoint = "/api/realtime-session"

// OversizeBody is the size of the body the oversize check sends: more than
// any sensible limit for a token request (rtgate allows at most 1 MiB).
const OversizeBody = 1<<20 + 1024

// Main runs the audit command with args (after "audit") and returns the exit
// code: 0 when nothing failed, 1 when a check failed, 2 on a usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rtgate audit", flag.ContinueOnError)
	// Help goes to stdout (exit 0), errors to stderr (exit 2): usage
	// writes to whichever fs.Output() is when it is called.
	fs.SetOutput(io.Discard)
	origin := fs.String("origin", "", "an origin the deployment allows (enables the look-alike and preflight checks)")
	httpURL := fs.String("http", "", "plain-HTTP URL expected to redirect to https (default http://host when the URL uses port 443)")
	caFile := fs.String("ca", "", "PEM file of CA certificates to trust instead of the system roots")
	asJSON := fs.Bool("json", false, "print a machine-readable JSON report")
	burst := fs.Int("burst-cap", 60, "most requests the rate-limit check sends")
	minDays := fs.Int("min-days", 14, "fail when the certificate expires within this many days")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout of each request")
	usage := func(w io.Writer) {
		fs.SetOutput(w)
		fmt.Fprintln(w, "usage: rtgate audit URL [--origin O] [--http URL] [--ca FILE] [--json] [--burst-cap N] [--min-days N] [--timeout D]")
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fs.Usage = func() {}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				usage(stdout)
				return 0
			}
			fmt.Fprintf(stderr, "rtgate audit: %v\n", err)
			usage(stderr)
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		if len(pos) > 1 {
			fmt.Fprintf(stderr, "rtgate audit: unexpected argument %q (one URL only)\n", pos[1])
		} else {
			fmt.Fprintln(stderr, "rtgate audit: missing the URL to audit")
		}
		usage(stderr)
		return 2
	}
	o := Options{URL: pos[0], Origin: *origin, HTTPURL: *httpURL, BurstCap: *burst,
		MinValidity: time.Duration(*minDays) * 24 * time.Hour, Timeout: *timeout}
	if *caFile != "" {
		b, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintf(stderr, "rtgate audit: --ca: %v\n", err)
			return 2
		}
		o.RootCAs = x509.NewCertPool()
		if !o.RootCAs.AppendCertsFromPEM(b) {
			fmt.Fprintf(stderr, "rtgate audit: --ca: %s holds no PEM certificate\n", *caFile)
			return 2
		}
	}
	if err := o.validate(); err != nil {
		fmt.Fprintf(stderr, "rtgate audit: %v\n", err)
		return 2
	}
	// Said before anything is sent; with --json on stderr, so stdout stays
	// one JSON document (which repeats it in "notice").
	if *asJSON {
		fmt.Fprintf(stderr, "%s\nnote: %s\n", commandLine(o, *caFile), notice(o))
	} else {
		fmt.Fprintf(stdout, "%s\nnote: %s\n\n", commandLine(o, *caFile), notice(o))
	}
	rep := Run(ctx, o)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		WriteText(stdout, rep)
	}
	if rep.Failed() {
		return 1
	}
	return 0
}

func (o *Options) validate() error {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Errorf("URL must be an absolute http(s) URL, got %q", o.URL)
	}
	if o.Origin != "" {
		ou, err := url.Parse(o.Origin)
		if err != nil || (ou.Scheme != "https" && ou.Scheme != "http") || ou.Host == "" || (ou.Path != "" && ou.Path != "/") {
			return fmt.Errorf("--origin must be scheme://host[:port], got %q", o.Origin)
		}
		o.Origin = strings.TrimSuffix(o.Origin, "/")
	}
	if o.HTTPURL != "" {
		hu, err := url.Parse(o.HTTPURL)
		if err != nil || hu.Scheme != "http" || hu.Host == "" {
			return fmt.Errorf("--http must be an http:// URL, got %q", o.HTTPURL)
		}
	}
	if o.BurstCap < 1 || o.BurstCap > 10000 {
		return fmt.Errorf("--burst-cap must be between 1 and 10000")
	}
	return nil
}

func notice(o Options) string {
	return fmt.Sprintf("the rate-limit check sends up to %d POST requests to %s and stops at the first 429; "+
		"every request the deployment accepts mints a real ephemeral client secret. "+
		"All other checks send requests a sound deployment refuses without minting.", burstCap(o), endpointOf(o))
}

func burstCap(o Options) int {
	if o.BurstCap <= 0 {
		return 60
	}
	return o.BurstCap
}

func endpointOf(o Options) string {
	u, err := url.Parse(o.URL)
	if err != nil || u.Path == "" || u.Path == "/" {
		return DefaultEndpoint
	}
	return u.Path
}

// WriteText prints the report as aligned lines and a summary.
func WriteText(w io.Writer, rep *Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range rep.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Status, c.Name, c.Reason)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%d passed, %d failed, %d skipped; %d requests sent, %d tokens minted\n",
		rep.Summary.Pass, rep.Summary.Fail, rep.Summary.Skip, rep.RequestsSent, rep.TokensMinted)
}

// Run audits the deployment described by o. It never returns an error:
// an unreachable deployment is a set of FAILs.
func Run(ctx context.Context, o Options) *Report {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MinValidity <= 0 {
		o.MinValidity = 14 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.BurstCap = burstCap(o)
	u, _ := url.Parse(o.URL)
	a := &auditor{o: o, base: &url.URL{Scheme: u.Scheme, Host: u.Host}, endpoint: endpointOf(o)}
	a.client = a.newClient()
	a.rep = &Report{Target: a.base.String(), Endpoint: a.endpoint, Origin: o.Origin, Notice: notice(o)}

	a.checkHTTPS(ctx)
	a.checkRedirect(ctx)
	a.checkCertificate(ctx)
	a.checkTLSFloor(ctx)
	a.checkTLSCiphers(ctx)
	a.checkMethods(ctx)
	a.checkBodies(ctx)
	a.checkHeaders()
	a.checkCORS(ctx)
	a.checkErrorLeaks(ctx)
	a.checkAnonymous(ctx)
	a.checkRateLimit(ctx)

	for _, c := range a.rep.Checks {
		switch c.Status {
		case Pass:
			a.rep.Summary.Pass++
		case Fail:
			a.rep.Summary.Fail++
		case Skip:
			a.rep.Summary.Skip++
		}
	}
	return a.rep
}

type auditor struct {
	o        Options
	base     *url.URL
	endpoint string
	client   *http.Client
	rep      *Report

	// headerSample is a response of the endpoint, for the header checks.
	headerSample *response
	// errorBodies are non-2xx responses kept for the leak scan.
	errors []*response
}

type response struct {
	label  string // "PUT /api/realtime-session"
	status int
	header http.Header
	body   string
	proto  string
	tls    *tls.ConnectionState
}

func (a *auditor) add(name string, s Status, format string, args ...any) {
	a.rep.Checks = append(a.rep.Checks, Result{Name: name, Status: s, Reason: fmt.Sprintf(format, args...)})
}

func (a *auditor) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: a.o.RootCAs, MinVersion: tls.VersionTLS12}
}

func (a *auditor) newClient() *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: a.o.Timeout}).DialContext,
		TLSClientConfig:     a.tlsConfig(),
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: a.o.Timeout,
		MaxIdleConnsPerHost: 4,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       a.o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// maxRead bounds how much of a response body is kept.
const maxRead = 64 << 10

// do sends one request to rawURL and reads the response. Every request is
// counted, and a 2xx answer of the token endpoint to a POST or GET is
// counted as a minted token.
func (a *auditor) do(ctx context.Context, method, rawURL string, header http.Header, body io.Reader) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "rtgate-audit")
	for k, vs := range header {
		req.Header[k] = vs
	}
	a.rep.RequestsSent++
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxRead))
	r := &response{label: method + " " + req.URL.Path, status: resp.StatusCode, header: resp.Header, body: string(b), proto: resp.Proto, tls: resp.TLS}
	if resp.StatusCode >= 400 {
		a.errors = append(a.errors, r)
	}
	if resp.StatusCode/100 == 2 && req.URL.Path == a.endpoint && (method == http.MethodPost || method == http.MethodGet) {
		a.rep.TokensMinted++
	}
	return r, nil
}

func (a *auditor) urlFor(path string) string {
	u := *a.base
	u.Path = path
	return u.String()
}

func (a *auditor) isHTTPS() bool { return a.base.Scheme == "https" }

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// short trims an error to one line of reasonable length.
func short(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// commandLine is the report's first line: the audit as it was asked for,
// with the options that change what is checked, so a saved transcript
// shows why, say, http-redirect was checked at all.
func commandLine(o Options, caFile string) string {
	parts := []string{"rtgate audit", o.URL}
	if o.Origin != "" {
		parts = append(parts, "--origin", o.Origin)
	}
	if o.HTTPURL != "" {
		parts = append(parts, "--http", o.HTTPURL)
	}
	if caFile != "" {
		parts = append(parts, "--ca", caFile)
	}
	return strings.Join(parts, " ")
}
