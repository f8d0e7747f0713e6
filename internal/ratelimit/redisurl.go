package ratelimit

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Default Redis timeouts: a rate-limit decision must not hold a request for
// long when Redis is slow or gone; the failure policy takes over instead.
const (
	DefaultRedisDialTimeout = 250 * time.Millisecond
	DefaultRedisIOTimeout   = 150 * time.Millisecond
)

// ParseRedisURL turns REDIS_URL into universal client options:
//
//	redis://[user:password@]host:port[/db]            single server
//	rediss://...                                       the same over TLS
//	redis://host1:port,host2:port,host3:port           Cluster (several addresses)
//	redis+sentinel://[user:pass@]h1:26379,h2:26379/db?master=mymaster
//	rediss+sentinel://...                              Sentinel over TLS
//	redis+cluster://host:port                          Cluster with one seed
//
// Query parameters: dial_timeout, read_timeout, write_timeout (Go
// durations; defaults 250ms, 150ms, 150ms), max_retries (default 0: a
// failed call goes straight to the failure policy), pool_size, master (Sentinel's
// master name, required for sentinel), sentinel_password, tls_server_name,
// tls_ca_file (PEM file of CAs to trust instead of the system roots, for a
// private CA). A tls_* parameter on a plain redis:// URL is an error.
// The password in the URL is used for the data nodes; the Sentinel
// password comes from sentinel_password.
func ParseRedisURL(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", redactErr(err))
	}
	o := &redis.UniversalOptions{
		DialTimeout:  DefaultRedisDialTimeout,
		ReadTimeout:  DefaultRedisIOTimeout,
		WriteTimeout: DefaultRedisIOTimeout,
		// No client-side retries: a failed decision goes to the failure
		// policy at once instead of multiplying the timeout.
		MaxRetries:    -1,
		DialerRetries: 1,
	}
	sentinel, cluster := false, false
	switch u.Scheme {
	case "redis":
	case "rediss":
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	case "redis+sentinel":
		sentinel = true
	case "rediss+sentinel":
		sentinel = true
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	case "redis+cluster":
		cluster = true
	case "rediss+cluster":
		cluster = true
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	default:
		return nil, fmt.Errorf("REDIS_URL: scheme %q is not redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster", u.Scheme)
	}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	for _, h := range strings.Split(u.Host, ",") {
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			port := "6379"
			if sentinel {
				port = "26379"
			}
			h = net.JoinHostPort(strings.Trim(h, "[]"), port)
		}
		o.Addrs = append(o.Addrs, h)
	}
	if len(o.Addrs) == 0 {
		return nil, fmt.Errorf("REDIS_URL: no host")
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return nil, fmt.Errorf("REDIS_URL: database %q is not a number", p)
		}
		o.DB = db
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "dial_timeout", "read_timeout", "write_timeout", "max_retries", "pool_size",
			"master", "sentinel_password", "tls_server_name", "tls_ca_file":
		default:
			return nil, fmt.Errorf("REDIS_URL: unknown parameter %q", k)
		}
	}
	for name, dst := range map[string]*time.Duration{"dial_timeout": &o.DialTimeout, "read_timeout": &o.ReadTimeout, "write_timeout": &o.WriteTimeout} {
		if v := q.Get(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("REDIS_URL: %s=%q is not a positive duration", name, v)
			}
			*dst = d
		}
	}
	if v := q.Get("max_retries"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("REDIS_URL: max_retries=%q is not a number >= 0", v)
		}
		o.MaxRetries = n
		if n == 0 {
			o.MaxRetries = -1
		}
	}
	if v := q.Get("pool_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("REDIS_URL: pool_size=%q is not a positive number", v)
		}
		o.PoolSize = n
	}
	if o.TLSConfig != nil {
		if f := q.Get("tls_ca_file"); f != "" {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("REDIS_URL: tls_ca_file: %w", err)
			}
			o.TLSConfig.RootCAs = x509.NewCertPool()
			if !o.TLSConfig.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("REDIS_URL: tls_ca_file %q holds no PEM certificate", f)
			}
		}
		o.TLSConfig.ServerName = q.Get("tls_server_name")
		if o.TLSConfig.ServerName == "" {
			host, _, _ := net.SplitHostPort(o.Addrs[0])
			o.TLSConfig.ServerName = host
		}
	}
	if o.TLSConfig == nil && (q.Has("tls_ca_file") || q.Has("tls_server_name")) {
		return nil, fmt.Errorf("REDIS_URL: tls_* parameters need a rediss scheme")
	}
	switch {
	case sentinel:
		o.MasterName = q.Get("master")
		if o.MasterName == "" {
			return nil, fmt.Errorf("REDIS_URL: sentinel URLs need ?master=<name>")
		}
		o.SentinelPassword = q.Get("sentinel_password")
	case cluster || len(o.Addrs) > 1:
		o.IsClusterMode = true
		if o.DB != 0 {
			return nil, fmt.Errorf("REDIS_URL: Redis Cluster has no database %d", o.DB)
		}
	}
	return o, nil
}

// NewUniversalFromURL returns a client for REDIS_URL (see ParseRedisURL):
// a plain client, a Sentinel failover client or a Cluster client.
func NewUniversalFromURL(raw string) (redis.UniversalClient, error) {
	o, err := ParseRedisURL(raw)
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(o), nil
}

// redactErr strips the URL (which may hold a password) from url.Parse errors.
func redactErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
