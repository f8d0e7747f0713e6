// Package redistest runs a real redis-server for tests: on a free loopback
// port, without persistence, stopped by t.Cleanup. A missing redis-server is
// a test failure (run scripts/setup.sh), never a skip.
package redistest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtgate/rtgate/internal/tlsx/tlsxtest"
)

// Server is one redis-server process that can be killed and restarted on
// the same address.
type Server struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	conf string // config file passed first (sentinel mode)
	args []string
	tls  *tls.Config // non-nil: the server speaks only TLS
	ca   string      // CA file for TLS clients

	mu     sync.Mutex
	proc   *os.Process
	exited chan error // receives the process's Wait result
}

// Start starts redis-server on 127.0.0.1 and a free port and waits until it
// answers PING (or -NOAUTH, when extra sets a password). extra is appended to
// the command line, e.g. "--requirepass", "s3cret". It is stopped when the
// test ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return start(t, extra, nil, "")
}

func start(t testing.TB, extra []string, tlsConf *tls.Config, ca string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not on PATH (%v): run scripts/setup.sh (called by .ci/run) to install it", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), args: extra, tls: tlsConf, ca: ca}
	var lastErr error
	for range 5 {
		s.port = freePort(t)
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

// StartTLS is Start with TLS only (no plain port), using a fresh self-signed
// certificate for 127.0.0.1; CAFile names the certificate for clients.
func StartTLS(t testing.TB, extra ...string) *Server {
	t.Helper()
	dir := t.TempDir()
	ca := tlsxtest.NewCA(t)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, 24*time.Hour, "127.0.0.1").Write(t, cert, key)
	caFile := ca.WriteCA(t, dir)
	// "--port 0" disables plain TCP; start() puts the TLS port last.
	args := append([]string{"--tls-cert-file", cert, "--tls-key-file", key, "--tls-auth-clients", "no"}, extra...)
	return start(t, args, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, caFile)
}

// StartSentinel starts a Redis Sentinel (redis-server --sentinel) on a free
// loopback port that monitors master under the name "mymaster" with a
// quorum of one. Use it with redis+sentinel://<addr>?master=mymaster.
func StartSentinel(t testing.TB, master *Server) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not on PATH (%v): run scripts/setup.sh (called by .ci/run) to install it", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor mymaster 127.0.0.1 %d 1\n", master.port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: bin, dir: dir, conf: conf, args: []string{"--sentinel"}}
	var lastErr error
	for range 5 {
		s.port = freePort(t)
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("redis sentinel did not start: %v", lastErr)
	return nil
}

// StartCluster starts a three-master Redis Cluster (no replicas) on free
// loopback ports, waits until every node reports cluster_state:ok, and
// returns the nodes. Use it with redis://a,b,c (several addresses).
func StartCluster(t testing.TB) []*Server {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli is not on PATH (%v): run scripts/setup.sh (called by .ci/run) to install it", err)
	}
	var nodes []*Server
	args := []string{"--cluster", "create"}
	for range 3 {
		n := Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		nodes = append(nodes, n)
		args = append(args, n.Addr())
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for {
			out, _ := exec.Command(cli, "-h", "127.0.0.1", "-p", strconv.Itoa(n.port), "CLUSTER", "INFO").Output()
			if strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok: %s", n.Addr(), out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}

// CAFile is the file holding the CA of the TLS server's certificate ("" without TLS).
func (s *Server) CAFile() string { return s.ca }

// Addr returns host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns redis://host:port, or rediss://host:port?tls_ca_file=... for
// a TLS server.
func (s *Server) URL() string {
	if s.tls != nil {
		return "rediss://" + s.Addr() + "?tls_ca_file=" + url.QueryEscape(s.ca)
	}
	return "redis://" + s.Addr()
}

// Kill stops the server with SIGKILL (as a crash would) and waits for it.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.Kill()
	<-s.exited
	s.proc = nil
}

// Restart starts the server again on the same port (empty: no persistence).
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	var err error
	for range 50 { // the port may take a moment to be free again
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("redis-server restart: %v", err)
}

func (s *Server) start() error {
	var out bytes.Buffer
	port := []string{"--port", strconv.Itoa(s.port)}
	if s.tls != nil {
		port = []string{"--port", "0", "--tls-port", strconv.Itoa(s.port)}
	}
	var first []string
	if s.conf != "" {
		first = []string{s.conf}
	}
	args := append(append(append(first, port...), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--protected-mode", "yes", "--loglevel", "warning"), s.args...)
	cmd := exec.Command(s.bin, args...)
	dieWithParent(cmd)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server exited: %v: %s", err, out.String())
		default:
		}
		if ping(s.Addr(), s.tls) {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer PING: %s", s.Addr(), out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	s.proc, s.exited = cmd.Process, exited
	s.mu.Unlock()
	return nil
}

func ping(addr string, tlsConf *tls.Config) bool {
	var c net.Conn
	var err error
	d := &net.Dialer{Timeout: 200 * time.Millisecond}
	if tlsConf != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, tlsConf)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (line == "+PONG\r\n" || strings.HasPrefix(line, "-NOAUTH"))
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
