package redisconn_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtgate/rtgate/internal/ratelimit/redistest"
	"github.com/rtgate/rtgate/internal/redisconn"
)

// view flattens the three option kinds into what the tests compare.
type view struct {
	kind                     string // single, cluster, sentinel
	addrs                    string
	user, pass, master       string
	sentinelUser, sentinelPw string
	db                       int
	tls                      *tls.Config
	dial, read, write        time.Duration
	retries, dialerRetries   int
}

func flatten(o *redisconn.Options) view {
	switch {
	case o.Cluster != nil:
		c := o.Cluster
		return view{kind: "cluster", addrs: strings.Join(c.Addrs, ","), user: c.Username, pass: c.Password, tls: c.TLSConfig,
			dial: c.DialTimeout, read: c.ReadTimeout, write: c.WriteTimeout, retries: c.MaxRetries, dialerRetries: c.DialerRetries}
	case o.Failover != nil:
		f := o.Failover
		return view{kind: "sentinel", addrs: strings.Join(f.SentinelAddrs, ","), user: f.Username, pass: f.Password, master: f.MasterName,
			sentinelUser: f.SentinelUsername, sentinelPw: f.SentinelPassword, db: f.DB, tls: f.TLSConfig,
			dial: f.DialTimeout, read: f.ReadTimeout, write: f.WriteTimeout, retries: f.MaxRetries, dialerRetries: f.DialerRetries}
	}
	s := o.Single
	return view{kind: "single", addrs: s.Addr, user: s.Username, pass: s.Password, db: s.DB, tls: s.TLSConfig,
		dial: s.DialTimeout, read: s.ReadTimeout, write: s.WriteTimeout, retries: s.MaxRetries, dialerRetries: s.DialerRetries}
}

func TestParse(t *testing.T) {
	tests := []struct {
		url                string
		kind               string
		addrs              string
		user, pass, master string
		sentinelPw         string
		db                 int
		tls                bool
		serverName         string
		read               time.Duration
		retries            int
	}{
		// The forms rtgate has always accepted.
		{url: "redis://localhost:6379", kind: "single", addrs: "localhost:6379", read: 150 * time.Millisecond, retries: -1},
		{url: "redis://h", kind: "single", addrs: "h:6379", read: 150 * time.Millisecond, retries: -1},
		{url: "redis://:s3cret@h:6380/2", kind: "single", addrs: "h:6380", pass: "s3cret", db: 2, read: 150 * time.Millisecond, retries: -1},
		{url: "rediss://app:p%40ss@cache.example:6380?read_timeout=1s", kind: "single", addrs: "cache.example:6380", user: "app", pass: "p@ss", tls: true, serverName: "cache.example", read: time.Second, retries: -1},
		{url: "redis://a:1,b:2,c:3", kind: "cluster", addrs: "a:1,b:2,c:3", read: 150 * time.Millisecond, retries: -1},
		{url: "redis://a,b:2", kind: "cluster", addrs: "a:6379,b:2", read: 150 * time.Millisecond, retries: -1},
		{url: "redis+cluster://seed:7000", kind: "cluster", addrs: "seed:7000", read: 150 * time.Millisecond, retries: -1},
		{url: "rediss+cluster://u:pw@seed:7000?tls_server_name=cache.internal", kind: "cluster", addrs: "seed:7000", user: "u", pass: "pw", tls: true, serverName: "cache.internal", read: 150 * time.Millisecond, retries: -1},
		{url: "redis+sentinel://:pw@s1,s2:26380/1?master=mymaster", kind: "sentinel", addrs: "s1:26379,s2:26380", pass: "pw", master: "mymaster", db: 1, read: 150 * time.Millisecond, retries: -1},
		{url: "redis+sentinel://s1?master=m&sentinel_password=spw", kind: "sentinel", addrs: "s1:26379", master: "m", sentinelPw: "spw", read: 150 * time.Millisecond, retries: -1},
		{url: "redis://[::1]:6379", kind: "single", addrs: "[::1]:6379", read: 150 * time.Millisecond, retries: -1},
		{url: "redis://h?max_retries=0", kind: "single", addrs: "h:6379", read: 150 * time.Millisecond, retries: -1},
		{url: "redis://h?max_retries=2&read_timeout=2", kind: "single", addrs: "h:6379", read: 2 * time.Second, retries: 2},
		// go-redis's own forms.
		{url: "redis://h:1?addr=h2:2&addr=h3:3", kind: "cluster", addrs: "h:1,h2:2,h3:3", read: 150 * time.Millisecond, retries: -1},
		{url: "redis://sen:spw@s1:26379/3?master_name=mymaster&addr=s2:26379&password=datapw", kind: "sentinel", addrs: "s1:26379,s2:26379", pass: "datapw", master: "mymaster", sentinelPw: "spw", db: 3, read: 150 * time.Millisecond, retries: -1},
		{url: "redis://h?client_name=rtgate&pool_size=64&protocol=3", kind: "single", addrs: "h:6379", read: 150 * time.Millisecond, retries: -1},
		{url: "unix:///run/redis.sock?db=2", kind: "single", addrs: "/run/redis.sock", db: 2, read: 150 * time.Millisecond, retries: -1},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			o, err := redisconn.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			v := flatten(o)
			if v.kind != tt.kind || v.addrs != tt.addrs {
				t.Errorf("%s %q; want %s %q", v.kind, v.addrs, tt.kind, tt.addrs)
			}
			if v.user != tt.user || v.pass != tt.pass || v.master != tt.master || v.db != tt.db || v.sentinelPw != tt.sentinelPw {
				t.Errorf("user %q pass %q master %q db %d sentinel password %q", v.user, v.pass, v.master, v.db, v.sentinelPw)
			}
			if (v.tls != nil) != tt.tls || v.read != tt.read || v.write != 150*time.Millisecond {
				t.Errorf("tls %v read %v write %v", v.tls != nil, v.read, v.write)
			}
			if v.tls != nil && (v.tls.MinVersion < tls.VersionTLS12 || v.tls.ServerName != tt.serverName) {
				t.Errorf("TLS min version %x, server name %q", v.tls.MinVersion, v.tls.ServerName)
			}
			if v.dial != 250*time.Millisecond || v.retries != tt.retries || v.dialerRetries != 1 {
				t.Errorf("dial %v retries %d dialer retries %d", v.dial, v.retries, v.dialerRetries)
			}
		})
	}
}

func TestParseErrorsNeverEchoThePassword(t *testing.T) {
	for _, u := range []string{
		"http://:hunter2@h",
		"redis://:hunter2@h/db",
		"redis+sentinel://:hunter2@h",
		"redis://:hunter2@h?dial_timeout=soon",
		"redis://:hunter2@a:1,b:2/3",
		"redis://:hunter2@",
		"redis://:hunter2@h\x7f",
		"redis://h?master_name=m&addr=rediss://u:hunter2@other:1",
		"redis+sentinel://h?master=m&sentinel_password=hunter2&pool_size=x",
	} {
		_, err := redisconn.Parse(u)
		if err == nil {
			t.Errorf("%q accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestParseRejectsUnknownAndMisplacedParameters(t *testing.T) {
	for _, u := range []string{
		"redis://h?read_timout=1s",
		"redis://h?tls_ca_file=/etc/ssl/ca.pem",
		"rediss://h?tls_ca_file=/nonexistent/ca.pem",
		"redis://h?max_retries=-2",
		"rediss://h?skip_verify=true",
		"redis+sentinel://h",
		"redis+cluster://h/2",
		"redis+ring://h",
		"unix:///run/redis.sock?tls_server_name=x",
	} {
		if _, err := redisconn.Parse(u); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestNewTalksToRedis(t *testing.T) {
	srv := redistest.Start(t)
	c, err := redisconn.New(srv.URL() + "/3")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	// The key went to database 3, not 0.
	zero, err := redisconn.New(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer zero.Close()
	if n, err := zero.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("key in database 0: %d %v", n, err)
	}
	if _, ok := c.(*redis.Client); !ok {
		t.Fatalf("one address gave %T; want a plain client", c)
	}
}
