// Package redisconn is the one place that turns REDIS_URL into a go-redis
// client. Every store that shares state across instances (rate limits,
// users, calls) gets its client from here, so they all speak to Redis with
// the same addresses, credentials, TLS settings and timeouts.
//
// The URL forms are go-redis's own (redis.ParseURL, redis.ParseClusterURL,
// redis.ParseFailoverURL), and go-redis parses them; rtgate adds a few forms
// and parameters of its own on top (see Parse) and changes some defaults.
package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults rtgate applies where the URL does not say otherwise: a decision
// must not hold a request for long when Redis is slow or gone; the failure
// policy of the store takes over instead.
const (
	DefaultDialTimeout = 250 * time.Millisecond
	DefaultIOTimeout   = 150 * time.Millisecond
)

// Options is a parsed REDIS_URL. Exactly one of Single, Cluster and
// Failover is set.
type Options struct {
	Single   *redis.Options
	Cluster  *redis.ClusterOptions
	Failover *redis.FailoverOptions
}

// Client returns a new client for o: a plain client, a Cluster client or a
// Sentinel failover client. The caller closes it.
func (o *Options) Client() redis.UniversalClient {
	switch {
	case o.Cluster != nil:
		return redis.NewClusterClient(o.Cluster)
	case o.Failover != nil:
		return redis.NewFailoverClient(o.Failover)
	}
	return redis.NewClient(o.Single)
}

// New parses raw (see Parse) and returns a client for it.
func New(raw string) (redis.UniversalClient, error) {
	o, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	return o.Client(), nil
}

// rtgate's own query parameters, removed before go-redis sees the URL.
const (
	paramCAFile           = "tls_ca_file"
	paramServerName       = "tls_server_name"
	paramMaster           = "master"
	paramMasterName       = "master_name" // go-redis's name for it
	paramSentinelPassword = "sentinel_password"
	paramAddr             = "addr"
	paramSkipVerify       = "skip_verify"
)

// Parse turns REDIS_URL into client options.
//
// go-redis's forms, parsed by go-redis (every query parameter go-redis
// knows is accepted; an unknown one is an error):
//
//	redis://[user:password@]host[:port][/db]            one server (redis.ParseURL)
//	rediss://...                                         the same over TLS
//	unix://[user:password@]/path/to/redis.sock?db=N      a Unix socket
//	redis://host:port?addr=host2:port&addr=host3:port    Cluster (redis.ParseClusterURL)
//	redis://[user:pw@]sentinel:port/db?master_name=NAME[&addr=sentinel2:port]
//	                                                     Sentinel (redis.ParseFailoverURL: the
//	                                                     user info is the Sentinel's; the data
//	                                                     nodes' come from ?username=&password=)
//
// rtgate's additions:
//
//	redis://host1:port,host2:port,...                    Cluster: several addresses
//	redis+cluster://host[:port][,host...]                Cluster, even with one seed address
//	redis+sentinel://[user:pw@]h1[:port][,h2...]/db?master=NAME[&sentinel_password=PW]
//	                                                     Sentinel: the user info is the data
//	                                                     nodes'; Sentinel port 26379 by default
//	rediss+cluster://, rediss+sentinel://                the same over TLS
//	tls_ca_file=FILE                                     PEM CAs to trust instead of the system roots
//	tls_server_name=NAME                                 the name the server certificate must carry
//
// rtgate's defaults where the URL sets nothing: dial_timeout 250ms,
// read_timeout and write_timeout 150ms, no retries (max_retries=0 also
// means none: a failed call goes straight to the store's failure policy),
// one dial attempt, TLS 1.2 or later. rtgate refuses: a URL without a host,
// tls_* parameters without TLS, skip_verify (trust a private CA with
// tls_ca_file instead), a database other than 0 for Cluster, and
// max_retries below -1. Errors never show the URL's password.
func Parse(raw string) (*Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password included
		}
		return nil, err
	}
	p := &parsed{u: u, q: u.Query()}
	if u.User != nil {
		p.user = u.User.Username()
		p.password, _ = u.User.Password()
	}
	p.secrets = []string{p.password, p.q.Get(paramSentinelPassword), p.q.Get("password")}
	o, err := p.parse()
	if err != nil {
		return nil, redact(err, p.secrets)
	}
	return o, nil
}

type parsed struct {
	u              *url.URL
	q              url.Values
	user, password string
	secrets        []string
}

func (p *parsed) parse() (*Options, error) {
	u, q := p.u, p.q
	if q.Has(paramSkipVerify) {
		return nil, errors.New("skip_verify is not accepted: trust a private CA with tls_ca_file")
	}
	caFile, serverName := q.Get(paramCAFile), q.Get(paramServerName)
	hasTLSParam := q.Has(paramCAFile) || q.Has(paramServerName)
	q.Del(paramCAFile)
	q.Del(paramServerName)

	scheme, variant, _ := strings.Cut(u.Scheme, "+")
	if (scheme != "redis" && scheme != "rediss" && u.Scheme != "unix") || (variant != "" && variant != "cluster" && variant != "sentinel") {
		return nil, fmt.Errorf("scheme %q is not redis, rediss, unix, redis+cluster, rediss+cluster, redis+sentinel or rediss+sentinel", u.Scheme)
	}
	if u.Scheme == "unix" {
		if hasTLSParam {
			return nil, errors.New("tls_* parameters need a rediss scheme")
		}
		o, err := redis.ParseURL(p.base("unix", "").String())
		if err != nil {
			return nil, err
		}
		o.Username, o.Password = p.user, p.password
		return finish(&Options{Single: o})
	}

	defaultPort := "6379"
	if variant == "sentinel" {
		defaultPort = "26379"
	}
	var hosts []string
	for h := range strings.SplitSeq(u.Host, ",") {
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), defaultPort)
		}
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil, errors.New("no host")
	}
	for _, h := range hosts[1:] {
		q.Add(paramAddr, h)
	}
	tlsOn := scheme == "rediss"
	if hasTLSParam && !tlsOn {
		return nil, errors.New("tls_* parameters need a rediss scheme")
	}

	var o Options
	switch {
	case variant == "sentinel":
		master := q.Get(paramMaster)
		if master == "" {
			master = q.Get(paramMasterName)
		}
		if master == "" {
			return nil, errors.New("sentinel URLs need ?master=<name>")
		}
		sentinelPassword := q.Get(paramSentinelPassword)
		q.Del(paramMaster)
		q.Del(paramSentinelPassword)
		q.Set(paramMasterName, master)
		f, err := redis.ParseFailoverURL(p.base(scheme, hosts[0]).String())
		if err != nil {
			return nil, err
		}
		f.Username, f.Password = p.user, p.password
		f.SentinelPassword = sentinelPassword
		o.Failover = f
	case q.Has(paramMasterName):
		f, err := redis.ParseFailoverURL(p.base(scheme, hosts[0]).String())
		if err != nil {
			return nil, err
		}
		f.SentinelUsername, f.SentinelPassword = p.user, p.password
		o.Failover = f
	case variant == "cluster" || len(hosts) > 1 || q.Has(paramAddr):
		if db := strings.Trim(u.Path, "/"); db != "" {
			n, err := strconv.Atoi(db)
			if err != nil {
				return nil, fmt.Errorf("database %q is not a number", db)
			}
			if n != 0 {
				return nil, fmt.Errorf("redis cluster has no database %d", n)
			}
		}
		c, err := redis.ParseClusterURL(p.base(scheme, hosts[0]).String())
		if err != nil {
			return nil, err
		}
		c.Username, c.Password = p.user, p.password
		o.Cluster = c
	default:
		s, err := redis.ParseURL(p.base(scheme, hosts[0]).String())
		if err != nil {
			return nil, err
		}
		s.Username, s.Password = p.user, p.password
		o.Single = s
	}
	if caFile != "" || serverName != "" {
		if err := o.tls(func(c *tls.Config) error { return setTLS(c, caFile, serverName) }); err != nil {
			return nil, err
		}
	}
	return finish(&o)
}

// base is the URL go-redis parses: scheme, the first host, the path and
// the remaining query, without user info (credentials are set on the parsed
// options, so no go-redis error can repeat them).
func (p *parsed) base(scheme, host string) *url.URL {
	return &url.URL{Scheme: scheme, Host: host, Path: p.u.Path, RawQuery: p.q.Encode()}
}

// tls runs fn on o's TLS configuration, if o has one.
func (o *Options) tls(fn func(*tls.Config) error) error {
	var c *tls.Config
	switch {
	case o.Single != nil:
		c = o.Single.TLSConfig
	case o.Cluster != nil:
		c = o.Cluster.TLSConfig
	case o.Failover != nil:
		c = o.Failover.TLSConfig
	}
	if c == nil {
		return nil
	}
	return fn(c)
}

func setTLS(c *tls.Config, caFile, serverName string) error {
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("tls_ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls_ca_file %q holds no PEM certificate", caFile)
		}
	}
	if serverName != "" {
		c.ServerName = serverName
	}
	return nil
}

// finish applies rtgate's defaults and checks what go-redis leaves open.
func finish(o *Options) (*Options, error) {
	var dial, read, write *time.Duration
	var retries, dialerRetries *int
	switch {
	case o.Single != nil:
		s := o.Single
		dial, read, write, retries, dialerRetries = &s.DialTimeout, &s.ReadTimeout, &s.WriteTimeout, &s.MaxRetries, &s.DialerRetries
	case o.Cluster != nil:
		c := o.Cluster
		dial, read, write, retries, dialerRetries = &c.DialTimeout, &c.ReadTimeout, &c.WriteTimeout, &c.MaxRetries, &c.DialerRetries
	default:
		f := o.Failover
		dial, read, write, retries, dialerRetries = &f.DialTimeout, &f.ReadTimeout, &f.WriteTimeout, &f.MaxRetries, &f.DialerRetries
	}
	for _, d := range []struct {
		p *time.Duration
		v time.Duration
	}{{dial, DefaultDialTimeout}, {read, DefaultIOTimeout}, {write, DefaultIOTimeout}} {
		if *d.p == 0 {
			*d.p = d.v
		}
	}
	switch {
	case *retries < -1:
		return nil, fmt.Errorf("max_retries=%d is not a number >= -1", *retries)
	case *retries == 0:
		// No client-side retries: a failed call goes to the failure policy
		// at once instead of multiplying the timeout. (go-redis reads 0 as
		// "its default of 3"; -1 is its "none".)
		*retries = -1
	}
	if *dialerRetries == 0 {
		*dialerRetries = 1
	}
	err := o.tls(func(c *tls.Config) error {
		c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
		return nil
	})
	return o, err
}

// userInfo matches the user info of a URL quoted in an error (go-redis
// repeats a bad addr parameter as given).
var userInfo = regexp.MustCompile(`[^\s/@]+@`)

// redact replaces every secret, and anything shaped like URL user info, in
// err's text.
func redact(err error, secrets []string) error {
	msg := userInfo.ReplaceAllString(err.Error(), "xxxxx@")
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}
