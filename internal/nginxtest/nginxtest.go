// Package nginxtest runs a real nginx for tests: in the foreground, in a
// temporary prefix, on loopback ports the caller chose, stopped by
// t.Cleanup. A missing nginx is a test failure (run scripts/setup.sh),
// never a skip.
package nginxtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// DeployFile is the path of a file under the repository's deploy/nginx.
func DeployFile(t testing.TB, name string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "deploy", "nginx", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// Start runs nginx with http { <http> } in a fresh prefix directory (temp
// paths, pid and error log inside it), checks the configuration with
// nginx -t, and waits until every port in ports accepts connections. It
// returns the prefix directory.
func Start(t testing.TB, http string, ports ...string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx" // Debian's place, often not on a user's PATH
		if _, serr := os.Stat(bin); serr != nil {
			t.Fatalf("nginx is not on PATH (%v) nor at %s: run scripts/setup.sh (.ci/run) to install it", err, bin)
		}
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, http)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", confPath).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confPath)
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	errorLog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "error.log")); return string(b) }
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("nginx error.log:\n%s", errorLog())
		}
	})
	for _, p := range ports {
		if _, err := strconv.Atoi(p); err != nil {
			t.Fatalf("nginxtest: port %q", p)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			select {
			case <-exited:
				t.Fatalf("nginx exited:\n%s", errorLog())
			default:
			}
			if c, err := net.DialTimeout("tcp", "127.0.0.1:"+p, time.Second); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("nginx did not listen on %s:\n%s", p, errorLog())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return dir
}

// StartProduction runs deploy/nginx/production.conf in a real nginx,
// rewritten to loopback: its listen ports, certificate paths and upstream
// (host:port of an rtgate, or of anything standing in for it). It returns
// the https and http base URLs. A line the rewrite expects and does not
// find fails the test, so the file and its tests cannot drift apart.
func StartProduction(t testing.TB, upstream, certFile, keyFile string) (httpsURL, httpURL string) {
	t.Helper()
	src, err := os.ReadFile(DeployFile(t, "production.conf"))
	if err != nil {
		t.Fatal(err)
	}
	httpsPort, httpPort := FreePort(t), FreePort(t)
	conf := string(src)
	for _, r := range [][2]string{
		{"    listen [::]:80;\n", ""},
		{"    listen [::]:443 ssl http2;\n", ""},
		{"listen 80;", "listen 127.0.0.1:" + httpPort + ";"},
		{"listen 443 ssl http2;", "listen 127.0.0.1:" + httpsPort + " ssl http2;"},
		{"/etc/letsencrypt/live/rtgate.example.com/fullchain.pem", certFile},
		{"/etc/letsencrypt/live/rtgate.example.com/privkey.pem", keyFile},
		{"server 127.0.0.1:3000;", "server " + upstream + ";"},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("production.conf no longer contains %q; update nginxtest.StartProduction", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	site := filepath.Join(t.TempDir(), "production.conf")
	if err := os.WriteFile(site, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	Start(t, "    include "+site+";", httpsPort, httpPort)
	return "https://127.0.0.1:" + httpsPort, "http://127.0.0.1:" + httpPort
}
