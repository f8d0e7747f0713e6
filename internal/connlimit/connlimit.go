// Package connlimit caps live connections per client address and in total,
// at accept time: before a TLS handshake, before HTTP parsing, before any
// buffer is allocated for the connection. One address holding hundreds of
// idle keep-alive connections can otherwise spend the process's file
// descriptors and lock every other client out (issue 11, attack 5).
//
// # Rules
//
//   - A Limiter counts the connections its listeners have accepted and not
//     yet closed: per client address and in total. Several listeners may
//     share one Limiter (the public and the plain-HTTP redirect listener do),
//     since they spend the same descriptors.
//   - The client address is the socket peer. IPv4-mapped IPv6 is the IPv4
//     address; IPv6 is folded to its first IPv6Prefix bits (64 by default,
//     RATE_LIMIT_IPV6_PREFIX), as the rate limiter does, because one
//     subscriber usually holds a whole /64 and could otherwise open PerAddr
//     connections from each of its 2^64 addresses.
//   - Peers for which Exempt returns true are not capped per address, only
//     in total. Behind a reverse proxy every connection comes from the proxy
//     (TRUSTED_PROXIES), so a per-address cap would cap the proxy, that is
//     every client at once; the per-client cap is then the proxy's job
//     (nginx limit_conn), and the total cap still bounds the process.
//   - A connection over the per-address cap is closed at once with a reset
//     (SO_LINGER 0), never handed to the server; the listener goes on
//     accepting. It is counted in
//     rtgate_connections_refused_total{listener,reason} and logged at most
//     once per LogEvery, with the number refused since the last line.
//   - At the total cap a new connection first reclaims a place: the
//     connection that has been reclaimable longest — idle between requests
//     or not yet past its first request's headers (http.StateIdle,
//     http.StateNew), never one serving a request — is reset and the new one
//     admitted, as nginx does when worker_connections run out. So idle or
//     silent connections from some addresses, however many, never keep a
//     new client out; only when every connection is serving a request is
//     the newcomer refused (reason "total"). Reclaiming needs the server to
//     report connection states: set http.Server.ConnState to
//     Limiter.ConnState. Reclaimed connections are counted in
//     rtgate_connections_reclaimed_total{listener}. A connection whose
//     request arrives at the very moment it is reclaimed loses that request
//     (the client sees a reset), as with nginx.
//   - Closing an admitted connection releases its place exactly once, however
//     often Close is called. Per-address entries are deleted at zero, so the
//     table never holds more entries than there are live connections.
package connlimit

import (
	"container/list"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Refusal reasons, the values of the reason label.
const (
	ReasonPerAddress = "per_address" // the client address holds PerAddr connections
	ReasonTotal      = "total"       // the Limiter holds Total connections
)

// DefaultIPv6Prefix is the prefix length IPv6 peers are folded to when
// Options.IPv6Prefix is zero.
const DefaultIPv6Prefix = 64

// DefaultLogEvery is the shortest interval between two refusal log lines
// when Options.LogEvery is zero.
const DefaultLogEvery = 10 * time.Second

// Options configures a Limiter. Zero caps disable that cap.
type Options struct {
	// PerAddr is the most live connections one client address (IPv4
	// address, IPv6 prefix) may hold; 0 disables the per-address cap.
	PerAddr int
	// Total is the most live connections all listeners of the Limiter may
	// hold together; 0 disables the total cap.
	Total int
	// IPv6Prefix is the prefix length (1..128) IPv6 peers are folded to;
	// 0 means DefaultIPv6Prefix.
	IPv6Prefix int
	// Exempt reports whether a peer (unmapped, without zone) is exempt from
	// the per-address cap: the trusted reverse proxies. Nil exempts nobody.
	Exempt func(netip.Addr) bool
	// Metrics records open and refused connections; nil records nothing.
	Metrics *Metrics
	// Logger receives the sampled refusal lines; nil discards them.
	Logger *slog.Logger
	// LogEvery is the shortest interval between two refusal lines; 0 means
	// DefaultLogEvery.
	LogEvery time.Duration
	// Now is the clock for log sampling; nil means time.Now.
	Now func() time.Time
}

// Limiter counts live connections per client address and in total. It is
// safe for concurrent use.
type Limiter struct {
	perAddr  int
	total    int
	v6bits   int
	exempt   func(netip.Addr) bool
	metrics  *Metrics
	log      *slog.Logger
	logEvery time.Duration
	now      func() time.Time

	mu      sync.Mutex
	open    int
	byAddr  map[netip.Addr]int
	idle    *list.List // of *conn reclaimable at the total cap, longest first
	lastLog time.Time
	unlog   int // refusals since the last log line
}

// New returns a Limiter for o. It fails on negative caps or an IPv6 prefix
// length outside 1..128.
func New(o Options) (*Limiter, error) {
	if o.PerAddr < 0 || o.Total < 0 {
		return nil, fmt.Errorf("connlimit: negative cap (per address %d, total %d)", o.PerAddr, o.Total)
	}
	if o.IPv6Prefix == 0 {
		o.IPv6Prefix = DefaultIPv6Prefix
	}
	if o.IPv6Prefix < 1 || o.IPv6Prefix > 128 {
		return nil, fmt.Errorf("connlimit: IPv6 prefix length %d out of range 1..128", o.IPv6Prefix)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.LogEvery <= 0 {
		o.LogEvery = DefaultLogEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Limiter{
		perAddr: o.PerAddr, total: o.Total, v6bits: o.IPv6Prefix, exempt: o.Exempt,
		metrics: o.Metrics, log: o.Logger, logEvery: o.LogEvery, now: o.Now,
		byAddr: make(map[netip.Addr]int), idle: list.New(),
	}, nil
}

// DefaultTotal is the total cap derived from the process's descriptor limit
// (the soft RLIMIT_NOFILE after raising it): three quarters of it, leaving a
// quarter for what the process opens itself — connections to OpenAI and
// Redis, sideband WebSockets of live calls, the admin listener, files. It is
// at least 1.
func DefaultTotal(nofile uint64) int {
	nofile = min(nofile, 1<<40) // RLIM_INFINITY and the like
	return max(1, int(nofile*3/4))
}

// Open returns the number of live connections the Limiter counts.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Listener returns ln with the Limiter's caps applied to every connection it
// accepts. name is the listener label of the metrics ("public", "redirect",
// "admin"): a fixed word, never anything a client chose.
func (l *Limiter) Listener(ln net.Listener, name string) net.Listener {
	w := &listener{Listener: ln, l: l, name: name}
	if m := l.metrics; m != nil {
		w.open = m.open.WithLabelValues(name)
		w.refusedAddr = m.refused.WithLabelValues(name, ReasonPerAddress)
		w.refusedTotal = m.refused.WithLabelValues(name, ReasonTotal)
		w.reclaimed = m.reclaimed.WithLabelValues(name)
	}
	return w
}

// listener applies a Limiter to one net.Listener.
type listener struct {
	net.Listener
	l                         *Limiter
	name                      string
	open                      prometheus.Gauge // nil without metrics
	refusedAddr, refusedTotal prometheus.Counter
	reclaimed                 prometheus.Counter
}

// Accept returns the next connection within the caps; connections over a
// cap are reset and never returned.
func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer := peerOf(c.RemoteAddr())
		key, perAddr, victim, reason := ln.l.acquire(peer)
		if reason != "" {
			reset(c)
			ln.note(reason, key, peer)
			continue
		}
		if ln.open != nil {
			ln.open.Inc()
		}
		if victim != nil {
			reset(victim)
			victim.ln.note(reclaimed, victim.key, peerOf(victim.RemoteAddr()))
		}
		return &conn{Conn: c, ln: ln, key: key, perAddr: perAddr}, nil
	}
}

// acquire takes a place for a connection from peer (invalid when unknown:
// then only the total cap applies). It returns the per-address key and
// whether a per-address place was taken, or the refusal reason. At the
// total cap it takes the place of the longest reclaimable connection,
// victim, which the caller must reset; until then the count is one over.
func (l *Limiter) acquire(peer netip.Addr) (key netip.Addr, perAddr bool, victim *conn, reason string) {
	perAddr = l.perAddr > 0 && peer.IsValid() && (l.exempt == nil || !l.exempt(peer))
	if perAddr {
		key = l.fold(peer)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if perAddr && l.byAddr[key] >= l.perAddr {
		return key, false, nil, ReasonPerAddress
	}
	if l.total > 0 && l.open >= l.total {
		e := l.idle.Front()
		if e == nil {
			return key, false, nil, ReasonTotal
		}
		victim = l.idle.Remove(e).(*conn)
		victim.elem = nil
	}
	l.open++
	if perAddr {
		l.byAddr[key]++
	}
	return key, perAddr, victim, ""
}

// release gives back the place of c, once; it reports whether this call
// released it.
func (l *Limiter) release(c *conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.released {
		return false
	}
	c.released = true
	if c.elem != nil {
		l.idle.Remove(c.elem)
		c.elem = nil
	}
	l.open--
	if !c.perAddr {
		return true
	}
	if n := l.byAddr[c.key] - 1; n > 0 {
		l.byAddr[c.key] = n
	} else {
		delete(l.byAddr, c.key)
	}
	return true
}

// ConnState is the http.Server.ConnState hook that tells the Limiter which
// of its connections may be reclaimed at the total cap: those that are new
// (no request read yet) or idle between requests. A connection that is
// serving a request, hijacked or closed is not reclaimable. Connections the
// Limiter did not admit are ignored. It is a no-op without a total cap.
func (l *Limiter) ConnState(nc net.Conn, st http.ConnState) {
	if l.total == 0 {
		return
	}
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, ok := nc.(*conn)
	if !ok || c.ln.l != l {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case c.released:
	case st == http.StateNew || st == http.StateIdle:
		if c.elem != nil {
			l.idle.MoveToBack(c.elem)
		} else {
			c.elem = l.idle.PushBack(c)
		}
	case c.elem != nil:
		l.idle.Remove(c.elem)
		c.elem = nil
	}
}

// fold maps an address to its per-address key: IPv4 as is, IPv6 to its
// prefix's first address.
func (l *Limiter) fold(a netip.Addr) netip.Addr {
	if a.Is4() {
		return a
	}
	p, _ := a.Prefix(l.v6bits) // a is valid and v6bits in range: no error
	return p.Addr()
}

// note counts an event — a refusal (ReasonPerAddress, ReasonTotal) or a
// reclaimed connection (reclaimed) of client peer, key its per-address key
// — and logs it if the Limiter wrote no line in the last LogEvery; the line
// says how many events there were since the last one.
func (ln *listener) note(reason string, key, peer netip.Addr) {
	var c prometheus.Counter
	switch reason {
	case ReasonPerAddress:
		c = ln.refusedAddr
	case ReasonTotal:
		c = ln.refusedTotal
	default:
		c = ln.reclaimed
	}
	if c != nil {
		c.Inc()
	}
	l := ln.l
	l.mu.Lock()
	l.unlog++
	now := l.now()
	if !l.lastLog.IsZero() && now.Sub(l.lastLog) < l.logEvery {
		l.mu.Unlock()
		return
	}
	n := l.unlog
	l.unlog, l.lastLog = 0, now
	l.mu.Unlock()

	client, limit := peer.String(), l.total
	if reason == ReasonPerAddress {
		limit = l.perAddr
		if key.Is6() && l.v6bits < 128 {
			client = netip.PrefixFrom(key, l.v6bits).String()
		}
	}
	msg := "connection refused: over the connection cap"
	if reason == reclaimed {
		msg = "connection reclaimed: an idle connection was reset to admit a new one at the total cap"
	}
	l.log.Warn(msg, "listener", ln.name, "reason", reason, "client", client, "cap", limit,
		"events", n, "sample_every_s", int(l.logEvery/time.Second))
}

// reclaimed is the log reason of a connection reset at the total cap to
// make room (not a refusal: it has its own counter).
const reclaimed = "reclaimed"

// peerOf returns the peer address of a connection, unmapped and without
// zone, or the zero Addr when it is not an IP address.
func peerOf(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.AddrPort().Addr()
	case nil:
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	return ip.Unmap().WithZone("")
}

// reset closes a refused or reclaimed connection at once: SO_LINGER 0
// sends a reset and leaves no TIME_WAIT state behind on our side.
func reset(c net.Conn) {
	raw := c
	if w, ok := c.(*conn); ok {
		raw = w.Conn
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// conn is an admitted connection; Close releases its place once.
type conn struct {
	net.Conn
	ln      *listener
	key     netip.Addr
	perAddr bool

	// Guarded by ln.l.mu.
	released bool
	elem     *list.Element // in ln.l.idle while reclaimable
}

// Close closes the connection and, the first time, releases its place.
func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.ln.l.release(c) && c.ln.open != nil {
		c.ln.open.Dec()
	}
	return err
}

// CloseWrite half-closes the connection when the underlying one can, so
// net/http's graceful close (FIN before close, to avoid resets) still works.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// Metrics holds the connection limiter's collectors. Labels are the fixed
// listener names and refusal reasons; never an address.
type Metrics struct {
	open      *prometheus.GaugeVec
	refused   *prometheus.CounterVec
	reclaimed *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg:
//
//	rtgate_connections_open{listener}
//	rtgate_connections_refused_total{listener,reason}
//	rtgate_connections_reclaimed_total{listener}
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rtgate_connections_open",
			Help: "Client connections accepted and not yet closed, by listener.",
		}, []string{"listener"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtgate_connections_refused_total",
			Help: "Client connections reset at accept by listener and reason (per_address: MAX_CONNS_PER_IP; total: MAX_CONNS).",
		}, []string{"listener", "reason"}),
		reclaimed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtgate_connections_reclaimed_total",
			Help: "Idle or not yet requesting connections reset at MAX_CONNS to admit a new one, by listener.",
		}, []string{"listener"}),
	}
	for _, c := range []prometheus.Collector{m.open, m.refused, m.reclaimed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
