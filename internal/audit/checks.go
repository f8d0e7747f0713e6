package audit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Check names, in report order.
const (
	CheckHTTPS        = "https"
	CheckRedirect     = "http-redirect"
	CheckCertificate  = "certificate"
	CheckTLSFloor     = "tls-version-floor"
	CheckTLSCiphers   = "tls-cipher-suites"
	CheckMethods      = "unknown-methods-405"
	CheckOversize     = "oversize-body-413"
	CheckContentType  = "wrong-content-type-415"
	CheckCORSForeign  = "cors-foreign-origin"
	CheckCORSLookalik = "cors-lookalike-origin"
	CheckCORSNull     = "cors-null-origin"
	CheckPreflight    = "cors-preflight"
	CheckErrorLeaks   = "error-leaks"
	CheckAnonymous    = "anonymous-mint"
	CheckRateLimit    = "rate-limit"
)

// HeaderCheckPrefix prefixes the per-header check names ("header:X-Frame-Options").
const HeaderCheckPrefix = "header:"

func (a *auditor) checkHTTPS(ctx context.Context) {
	if !a.isHTTPS() {
		a.add(CheckHTTPS, Fail, "the URL is plain http: tokens would travel unencrypted")
		return
	}
	r, err := a.do(ctx, http.MethodGet, a.urlFor("/"), nil, nil)
	if err != nil {
		a.add(CheckHTTPS, Fail, "GET / over https failed: %s", short(err))
		return
	}
	a.add(CheckHTTPS, Pass, "GET / answered %d over %s, %s", r.status, r.proto, tlsVersionName(r.tls))
}

func tlsVersionName(cs *tls.ConnectionState) string {
	if cs == nil {
		return "no TLS"
	}
	return tls.VersionName(cs.Version)
}

func (a *auditor) checkRedirect(ctx context.Context) {
	target := a.o.HTTPURL
	if target == "" {
		switch {
		case !a.isHTTPS():
			target = a.base.String()
		case a.base.Port() == "" || a.base.Port() == "443":
			target = "http://" + a.base.Hostname()
		default:
			a.add(CheckRedirect, Skip, "https is on port %s; pass --http URL to check the plain-HTTP listener", a.base.Port())
			return
		}
	}
	u, _ := url.Parse(target)
	u.Path = a.endpoint
	r, err := a.do(ctx, http.MethodGet, u.String(), nil, nil)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			a.add(CheckRedirect, Skip, "nothing listens on %s: plain HTTP is closed, nothing to redirect", u.Host)
			return
		}
		a.add(CheckRedirect, Fail, "GET %s failed: %s", u.Redacted(), short(err))
		return
	}
	loc := r.header.Get("Location")
	switch r.status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		lu, err := url.Parse(loc)
		if err != nil || lu.Scheme != "https" {
			a.add(CheckRedirect, Fail, "plain HTTP redirects with %d to %q, which is not https", r.status, loc)
			return
		}
		a.add(CheckRedirect, Pass, "plain HTTP answers %d to %s", r.status, lu.Scheme+"://"+lu.Host+lu.Path)
	default:
		a.add(CheckRedirect, Fail, "plain HTTP answered %d instead of redirecting to https", r.status)
	}
}

func (a *auditor) dialTLS(ctx context.Context, cfg *tls.Config) (*tls.ConnectionState, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: a.o.Timeout}, Config: cfg}
	host := a.base.Host
	if a.base.Port() == "" {
		host = net.JoinHostPort(a.base.Hostname(), "443")
	}
	ctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cs := c.(*tls.Conn).ConnectionState()
	return &cs, nil
}

func (a *auditor) checkCertificate(ctx context.Context) {
	if !a.isHTTPS() {
		a.add(CheckCertificate, Fail, "no TLS: the URL is plain http")
		return
	}
	cfg := a.tlsConfig()
	cfg.ServerName = a.base.Hostname()
	cs, err := a.dialTLS(ctx, cfg)
	if err != nil {
		a.add(CheckCertificate, Fail, "certificate not trusted for %s: %s", a.base.Hostname(), short(err))
		return
	}
	leaf := cs.PeerCertificates[0]
	left := leaf.NotAfter.Sub(a.o.Now())
	days := int(left.Hours() / 24)
	issuer := leaf.Issuer.CommonName
	if issuer == "" {
		issuer = leaf.Issuer.String()
	}
	if left < a.o.MinValidity {
		a.add(CheckCertificate, Fail, "valid for %s but expires %s, in %d days (< %d)", a.base.Hostname(), leaf.NotAfter.UTC().Format("2006-01-02"), days, int(a.o.MinValidity.Hours()/24))
		return
	}
	a.add(CheckCertificate, Pass, "valid for %s until %s (%d days), issued by %s", a.base.Hostname(), leaf.NotAfter.UTC().Format("2006-01-02"), days, issuer)
}

// allSuites offers every suite Go knows, insecure ones included, so a
// server willing to speak an old protocol is found out.
func allSuites() []uint16 {
	var ids []uint16
	for _, s := range tls.CipherSuites() {
		ids = append(ids, s.ID)
	}
	for _, s := range tls.InsecureCipherSuites() {
		ids = append(ids, s.ID)
	}
	return ids
}

func (a *auditor) checkTLSFloor(ctx context.Context) {
	if !a.isHTTPS() {
		a.add(CheckTLSFloor, Fail, "no TLS: the URL is plain http")
		return
	}
	var accepted, refused []string
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
		cfg := &tls.Config{
			// Only the protocol version is under test here; trust is the
			// certificate check's business.
			InsecureSkipVerify: true, //nolint:gosec
			ServerName:         a.base.Hostname(),
			MinVersion:         v,
			MaxVersion:         v,
			CipherSuites:       allSuites(),
		}
		if _, err := a.dialTLS(ctx, cfg); err != nil {
			refused = append(refused, tls.VersionName(v))
		} else {
			accepted = append(accepted, tls.VersionName(v))
		}
	}
	var old []string
	for _, v := range accepted {
		if v == "TLS 1.0" || v == "TLS 1.1" {
			old = append(old, v)
		}
	}
	switch {
	case len(old) > 0:
		a.add(CheckTLSFloor, Fail, "%s accepted; the floor must be TLS 1.2", strings.Join(old, " and "))
	case len(accepted) == 0:
		a.add(CheckTLSFloor, Fail, "no TLS version could be negotiated")
	default:
		a.add(CheckTLSFloor, Pass, "%s refused; %s accepted", strings.Join(refused, ", "), strings.Join(accepted, ", "))
	}
}

// weakSuites are TLS 1.2 suites without forward secrecy or without AEAD:
// RSA key exchange, CBC modes, 3DES, RC4.
func weakSuites() []uint16 {
	var ids []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if !slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
			continue
		}
		aead := strings.Contains(s.Name, "_GCM_") || strings.Contains(s.Name, "CHACHA20_POLY1305")
		fs := strings.HasPrefix(s.Name, "TLS_ECDHE_")
		if !aead || !fs {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

func (a *auditor) checkTLSCiphers(ctx context.Context) {
	if !a.isHTTPS() {
		a.add(CheckTLSCiphers, Fail, "no TLS: the URL is plain http")
		return
	}
	cfg := &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // only the suite is under test
		ServerName:         a.base.Hostname(),
		MinVersion:         tls.VersionTLS12,
		MaxVersion:         tls.VersionTLS12,
		CipherSuites:       weakSuites(),
	}
	cs, err := a.dialTLS(ctx, cfg)
	if err == nil {
		a.add(CheckTLSCiphers, Fail, "TLS 1.2 accepted %s (no forward secrecy or no AEAD)", tls.CipherSuiteName(cs.CipherSuite))
		return
	}
	a.add(CheckTLSCiphers, Pass, "TLS 1.2 refuses every CBC, RSA-key-exchange, 3DES and RC4 suite")
}

// unknownMethods are methods the token endpoint must refuse with 405.
var unknownMethods = []string{http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodTrace, "PROPFIND"}

func (a *auditor) checkMethods(ctx context.Context) {
	var bad, ok []string
	for _, m := range unknownMethods {
		r, err := a.do(ctx, m, a.urlFor(a.endpoint), nil, nil)
		if err != nil {
			bad = append(bad, m+": "+short(err))
			continue
		}
		if a.headerSample == nil {
			a.headerSample = r
		}
		if r.status != http.StatusMethodNotAllowed {
			bad = append(bad, fmt.Sprintf("%s → %d", m, r.status))
			continue
		}
		ok = append(ok, m)
	}
	if len(bad) > 0 {
		a.add(CheckMethods, Fail, "want 405: %s", strings.Join(bad, "; "))
		return
	}
	a.add(CheckMethods, Pass, "%s → 405", strings.Join(ok, ", "))
}

func (a *auditor) checkBodies(ctx context.Context) {
	// Oversize: a syntactically valid JSON object too large for any token request.
	big := `{"voice":"` + strings.Repeat("a", OversizeBody-len(`{"voice":""}`)) + `"}`
	r, err := a.do(ctx, http.MethodPost, a.urlFor(a.endpoint), hdr("Content-Type", "application/json"), strings.NewReader(big))
	switch {
	case err != nil:
		a.add(CheckOversize, Fail, "POST of %d bytes failed without a response: %s", len(big), short(err))
	case r.status == http.StatusRequestEntityTooLarge:
		a.add(CheckOversize, Pass, "a %d-byte JSON body → 413", len(big))
	case r.status == http.StatusTooManyRequests:
		a.add(CheckOversize, Skip, "rate limited (429) before the body was judged; rerun when the window has passed")
	default:
		a.add(CheckOversize, Fail, "a %d-byte JSON body → %d, want 413", len(big), r.status)
	}

	r, err = a.do(ctx, http.MethodPost, a.urlFor(a.endpoint), hdr("Content-Type", "text/plain"), strings.NewReader(`{}`))
	switch {
	case err != nil:
		a.add(CheckContentType, Fail, "POST text/plain failed: %s", short(err))
	case r.status == http.StatusUnsupportedMediaType:
		a.add(CheckContentType, Pass, "a text/plain body → 415")
	case r.status == http.StatusTooManyRequests:
		a.add(CheckContentType, Skip, "rate limited (429) before the body was judged; rerun when the window has passed")
	default:
		a.add(CheckContentType, Fail, "a text/plain body → %d, want 415", r.status)
	}
	if err == nil {
		a.headerSample = r
	}
}

// headerRule judges one security header's value; "" means sound.
type headerRule struct {
	name  string
	judge func(v string) string
}

// HeaderRules are the guide's security headers and what counts as sound.
var headerRules = []headerRule{
	{"Strict-Transport-Security", judgeHSTS},
	{"X-Content-Type-Options", func(v string) string { return want(strings.EqualFold(v, "nosniff"), "want nosniff") }},
	{"X-Frame-Options", func(v string) string {
		return want(strings.EqualFold(v, "DENY") || strings.EqualFold(v, "SAMEORIGIN"), "want DENY or SAMEORIGIN")
	}},
	{"X-XSS-Protection", func(v string) string {
		n := strings.ReplaceAll(strings.ToLower(v), " ", "")
		return want(n == "1;mode=block" || n == "0", "want \"1; mode=block\" (the guide) or \"0\"")
	}},
	{"Referrer-Policy", func(v string) string {
		ok := []string{"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
		last := strings.TrimSpace(v[strings.LastIndex(v, ",")+1:])
		return want(slices.Contains(ok, strings.ToLower(last)), "want strict-origin-when-cross-origin or stricter")
	}},
	{"Permissions-Policy", func(v string) string {
		return want(strings.Contains(strings.ReplaceAll(v, " ", ""), "microphone=("), "want a microphone= directive, e.g. microphone=(self)")
	}},
	{"Content-Security-Policy", judgeCSP},
}

func want(ok bool, msg string) string {
	if ok {
		return ""
	}
	return msg
}

// MinHSTSAge is the shortest HSTS max-age accepted: 180 days.
const MinHSTSAge = 180 * 24 * 3600

func judgeHSTS(v string) string {
	for _, part := range strings.Split(v, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(k, "max-age") {
			n, err := strconv.Atoi(strings.Trim(val, `"`))
			if err != nil {
				return "max-age is not a number"
			}
			if n < MinHSTSAge {
				return fmt.Sprintf("max-age=%d is shorter than 180 days (the guide uses 31536000)", n)
			}
			return ""
		}
	}
	return "no max-age"
}

func judgeCSP(v string) string {
	l := strings.ToLower(v)
	if !strings.Contains(l, "default-src") && !strings.Contains(l, "frame-ancestors") {
		return "no default-src"
	}
	for _, d := range strings.Split(l, ";") {
		f := strings.Fields(d)
		if len(f) > 1 && f[0] == "default-src" && (slices.Contains(f[1:], "*") || slices.Contains(f[1:], "'unsafe-eval'")) {
			return "default-src allows * or 'unsafe-eval'"
		}
	}
	return ""
}

func (a *auditor) checkHeaders() {
	r := a.headerSample
	for _, rule := range headerRules {
		name := HeaderCheckPrefix + rule.name
		if r == nil {
			a.add(name, Fail, "the endpoint gave no response to inspect")
			continue
		}
		v := r.header.Get(rule.name)
		if v == "" {
			a.add(name, Fail, "missing on %s (%d)", r.label, r.status)
			continue
		}
		if rule.name == "Strict-Transport-Security" && !a.isHTTPS() {
			a.add(name, Fail, "%q sent over plain http, where browsers ignore it", v)
			continue
		}
		if msg := rule.judge(v); msg != "" {
			a.add(name, Fail, "%q: %s", v, msg)
			continue
		}
		a.add(name, Pass, "%s", v)
	}
}

// preflight sends a CORS preflight for POST from origin.
func (a *auditor) preflight(ctx context.Context, origin string) (*response, error) {
	return a.do(ctx, http.MethodOptions, a.urlFor(a.endpoint), hdr(
		"Origin", origin,
		"Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type",
	), nil)
}

// corsGranted says how a response grants CORS permission to origin, or ""
// when it withholds it.
func corsGranted(r *response, origin string) string {
	acao := r.header.Get("Access-Control-Allow-Origin")
	switch {
	case acao == "*":
		return "Access-Control-Allow-Origin: * (any site may read the response)"
	case acao != "" && acao == origin:
		return "Access-Control-Allow-Origin echoes it"
	case acao != "" && strings.EqualFold(acao, origin):
		return "Access-Control-Allow-Origin echoes it ignoring case"
	}
	return ""
}

func (a *auditor) corsRefuses(ctx context.Context, name string, origins []string) {
	var bad, seen []string
	for _, o := range origins {
		r, err := a.preflight(ctx, o)
		if err != nil {
			bad = append(bad, o+": "+short(err))
			continue
		}
		if why := corsGranted(r, o); why != "" {
			bad = append(bad, o+" → "+why)
			continue
		}
		seen = append(seen, fmt.Sprintf("%s → %d", o, r.status))
	}
	if len(bad) > 0 {
		a.add(name, Fail, "%s", strings.Join(bad, "; "))
		return
	}
	a.add(name, Pass, "no CORS grant: %s", strings.Join(seen, ", "))
}

// Lookalikes returns origins an attacker could register that a sloppy
// matcher (substring, prefix, suffix, scheme-blind) would accept for origin.
func Lookalikes(origin string) []string {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return nil
	}
	host := u.Host
	out := []string{
		u.Scheme + "://" + host + ".evil.example", // suffix appended
		u.Scheme + "://evil" + host,               // prefix glued on
		u.Scheme + "://evil-" + host,              // prefix with a dash
	}
	if u.Scheme == "https" {
		out = append(out, "http://"+host) // downgraded scheme
	}
	return out
}

func (a *auditor) checkCORS(ctx context.Context) {
	a.corsRefuses(ctx, CheckCORSForeign, []string{"https://evil.example"})
	if a.o.Origin == "" {
		a.add(CheckCORSLookalik, Skip, "no --origin given: look-alikes need an allowed origin to imitate")
	} else {
		a.corsRefuses(ctx, CheckCORSLookalik, Lookalikes(a.o.Origin))
	}
	a.corsRefuses(ctx, CheckCORSNull, []string{"null"})
	a.checkPreflight(ctx)
}

// MaxPreflightAge is the longest Access-Control-Max-Age accepted (Firefox's cap).
const MaxPreflightAge = 86400

func (a *auditor) checkPreflight(ctx context.Context) {
	if a.o.Origin == "" {
		a.add(CheckPreflight, Skip, "no --origin given: cannot send a preflight the deployment should accept")
		return
	}
	r, err := a.preflight(ctx, a.o.Origin)
	if err != nil {
		a.add(CheckPreflight, Fail, "preflight failed: %s", short(err))
		return
	}
	var problems []string
	if r.status/100 != 2 {
		problems = append(problems, fmt.Sprintf("status %d", r.status))
	}
	if acao := r.header.Get("Access-Control-Allow-Origin"); acao != a.o.Origin {
		problems = append(problems, fmt.Sprintf("Access-Control-Allow-Origin %q, want %q", acao, a.o.Origin))
	}
	methods := strings.ToUpper(r.header.Get("Access-Control-Allow-Methods"))
	var ms []string
	for _, m := range strings.Split(methods, ",") {
		if m = strings.TrimSpace(m); m != "" {
			ms = append(ms, m)
		}
	}
	if !slices.Contains(ms, "POST") && !slices.Contains(ms, "GET") {
		problems = append(problems, fmt.Sprintf("Access-Control-Allow-Methods %q allows neither GET nor POST", methods))
	}
	for _, m := range ms {
		if m != "GET" && m != "POST" && m != "OPTIONS" && m != "HEAD" {
			problems = append(problems, fmt.Sprintf("Access-Control-Allow-Methods allows %s", m))
		}
	}
	maxAge := r.header.Get("Access-Control-Max-Age")
	if n, err := strconv.Atoi(maxAge); err != nil || n <= 0 || n > MaxPreflightAge {
		problems = append(problems, fmt.Sprintf("Access-Control-Max-Age %q, want 1..%d seconds", maxAge, MaxPreflightAge))
	}
	if len(problems) > 0 {
		a.add(CheckPreflight, Fail, "%s", strings.Join(problems, "; "))
		return
	}
	a.add(CheckPreflight, Pass, "%d, methods %s, max-age %s", r.status, strings.Join(ms, ","), maxAge)
}

// Leak patterns: what an error response must never show.
var leakPatterns = []struct {
	what string
	re   *regexp.Regexp
}{
	{"a Go stack trace", regexp.MustCompile(`goroutine \d+ \[|panic: |\.go:\d+`)},
	{"a JavaScript stack trace", regexp.MustCompile(`\n\s+at [^\n]+\(?[^\s()]+:\d+:\d+\)?|node_modules`)},
	{"a Python traceback", regexp.MustCompile(`Traceback \(most recent call last\)|File "[^"]+", line \d+`)},
	{"a Java stack trace", regexp.MustCompile(`\tat [\w.$]+\([\w]+\.java:\d+\)|Exception in thread`)},
	{"a file path", regexp.MustCompile(`(?:^|[\s"'(=:])/(?:home|root|usr|var|opt|srv|etc|Users)/[\w.@+-]+|[A-Za-z]:\\\\?[\w]+\\`)},
	{"an OpenAI key-like string", regexp.MustCompile(`sk-[A-Za-z0-9_-]{8,}`)},
	{"an ephemeral secret-like string", regexp.MustCompile(`ek_[A-Za-z0-9_-]{8,}`)},
}

// Leaks returns what kinds of leak s shows (empty when clean). It never
// returns the leaked text itself.
func Leaks(s string) []string {
	var out []string
	for _, p := range leakPatterns {
		if p.re.MatchString(s) {
			out = append(out, p.what)
		}
	}
	return out
}

// urlHeaders carry URL paths by design ("report-uri /app/csp"), which the
// file-path pattern would mistake for a leak.
var urlHeaders = map[string]bool{
	"Location": true, "Content-Location": true, "Link": true, "Refresh": true,
	"Content-Security-Policy": true, "Content-Security-Policy-Report-Only": true,
	"Report-To": true, "Reporting-Endpoints": true, "Nel": true,
}

func (a *auditor) checkErrorLeaks(ctx context.Context) {
	// Provoke the errors a careless handler dresses worst: broken JSON and
	// an unknown route. Both must be refused without minting.
	_, _ = a.do(ctx, http.MethodPost, a.urlFor(a.endpoint), hdr("Content-Type", "application/json"), strings.NewReader(`{"model":`))
	_, _ = a.do(ctx, http.MethodGet, a.urlFor("/rtgate-audit-missing"), nil, nil)
	if len(a.errors) == 0 {
		a.add(CheckErrorLeaks, Skip, "no error response to inspect")
		return
	}
	for _, r := range a.errors {
		text := r.body
		for k, vs := range r.header {
			if !urlHeaders[k] {
				text += "\n" + k + ": " + strings.Join(vs, ", ")
			}
		}
		if what := Leaks(text); len(what) > 0 {
			a.add(CheckErrorLeaks, Fail, "%s (%d) shows %s", r.label, r.status, strings.Join(what, ", "))
			return
		}
	}
	a.add(CheckErrorLeaks, Pass, "%d error responses show no stack trace, file path or key-like string", len(a.errors))
}

// checkAnonymous asks for a token the way anyone on the internet can: a
// POST with no credentials (no Authorization, no Cookie) and no Origin. A
// token (or a 201 call) means anyone can mint. With --origin it asks again
// carrying the allowed Origin and still no credentials: a deployment that
// refuses the first but mints for the second relies on Origin alone, which
// only browsers are bound by — curl sends any Origin it likes — so that is
// anonymous minting too. PASS needs every probe refused with 401 or 403; a
// 429 (the budget spent by earlier checks) or any other answer is SKIP,
// since it shows neither a token nor a refusal for want of credentials.
func (a *auditor) checkAnonymous(ctx context.Context) {
	const fix = "require authentication (rtgate: AUTH_MODE=jwt or AUTH_MODE=forward)"
	type probe struct {
		label  string
		header http.Header
	}
	probes := []probe{{"without Origin or credentials", hdr("Content-Type", "application/json")}}
	if a.o.Origin != "" {
		probes = append(probes, probe{"with Origin: " + a.o.Origin + " and no credentials", hdr("Content-Type", "application/json", "Origin", a.o.Origin)})
	}
	var refused []string
	for i, p := range probes {
		r, err := a.do(ctx, http.MethodPost, a.urlFor(a.endpoint), p.header, strings.NewReader(`{}`))
		switch {
		case err != nil:
			a.add(CheckAnonymous, Fail, "POST %s failed: %s", p.label, short(err))
			return
		case r.status/100 == 2 && i == 0:
			a.add(CheckAnonymous, Fail, "POST %s → %d, a token: anyone on the internet can mint; %s", p.label, r.status, fix)
			return
		case r.status/100 == 2:
			a.add(CheckAnonymous, Fail, "%s, but POST %s → %d, a token: Origin is not authentication (any client outside a browser sends it); %s",
				strings.Join(refused, "; "), p.label, r.status, fix)
			return
		case r.status == http.StatusTooManyRequests:
			a.add(CheckAnonymous, Skip, "POST %s → 429 before authentication was judged; rerun when the window has passed", p.label)
			return
		case r.status != http.StatusUnauthorized && r.status != http.StatusForbidden:
			a.add(CheckAnonymous, Skip, "POST %s → %d: neither a token nor a refusal for want of credentials (401/403)", p.label, r.status)
			return
		}
		refused = append(refused, fmt.Sprintf("POST %s → %d", p.label, r.status))
	}
	a.add(CheckAnonymous, Pass, "%s", strings.Join(refused, "; "))
}

func (a *auditor) checkRateLimit(ctx context.Context) {
	before := a.rep.TokensMinted
	for i := 1; i <= a.o.BurstCap; i++ {
		r, err := a.do(ctx, http.MethodPost, a.urlFor(a.endpoint), hdr("Content-Type", "application/json"), strings.NewReader(`{}`))
		if err != nil {
			a.add(CheckRateLimit, Fail, "request %d of the burst failed: %s", i, short(err))
			return
		}
		if r.status != http.StatusTooManyRequests {
			continue
		}
		minted := a.rep.TokensMinted - before
		ra := r.header.Get("Retry-After")
		if !validRetryAfter(ra) {
			a.add(CheckRateLimit, Fail, "429 after %d requests (%d tokens minted) but Retry-After is %q", i, minted, ra)
			return
		}
		a.add(CheckRateLimit, Pass, "429 after %d requests (%d tokens minted), Retry-After: %s", i, minted, ra)
		return
	}
	a.add(CheckRateLimit, Fail, "no 429 after %d requests (the cap; %d tokens minted)", a.o.BurstCap, a.rep.TokensMinted-before)
}

func validRetryAfter(v string) bool {
	if n, err := strconv.Atoi(v); err == nil {
		return n >= 1
	}
	_, err := http.ParseTime(v)
	return err == nil
}
