// Package abusee2e measures attack classes of docs/abuse.md that no other
// test counts at the HTTP level: what reached the upstream divided by what
// the configuration allows. Each test logs one "ratio" line (the figures in
// the document) and fails above 1.00.
//
//	go test -count=1 -v -run . ./e2e/abuse/ | grep ratio
package abusee2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rtgate/rtgate/internal/apptest"
)

// limit is RATE_LIMIT_MAX_REQUESTS in every test, over an hour, so nothing
// refills while a test runs and the allowance is exact.
const limit = 10

var limited = map[string]string{"RATE_LIMIT_MAX_REQUESTS": "10", "RATE_LIMIT_WINDOW_MS": "3600000"}

// burst sends n mints at once through c and returns how many were answered
// 200, how many 429, and how many failed without an HTTP answer.
func burst(t *testing.T, c *http.Client, url string, n int, check func(*http.Response)) (ok, limited, failed int) {
	t.Helper()
	var okN, limN, failN atomic.Int32
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url+"/api/realtime-session", nil)
			resp, err := c.Do(req)
			if err != nil {
				failN.Add(1)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if check != nil {
				check(resp)
			}
			switch resp.StatusCode {
			case http.StatusOK:
				okN.Add(1)
			case http.StatusTooManyRequests:
				limN.Add(1)
			default:
				t.Errorf("unexpected status %d", resp.StatusCode)
			}
		})
	}
	close(start)
	wg.Wait()
	return int(okN.Load()), int(limN.Load()), int(failN.Load())
}

// report logs the ratio line and fails when more reached the upstream than
// the configuration allows, or when the answers and the upstream disagree.
func report(t *testing.T, class string, answered200, minted, allowed int) {
	t.Helper()
	t.Logf("ratio class=%q admitted=%d allowed=%d ratio=%.2f", class, minted, allowed, float64(minted)/float64(allowed))
	if minted > allowed {
		t.Errorf("%d reached the upstream; the configuration allows %d", minted, allowed)
	}
	if answered200 != minted {
		t.Errorf("%d answered 200 but the upstream minted %d", answered200, minted)
	}
}

// TestHundredParallelRequestsFromOneAddress: 100 mints at once from one
// client, each on its own HTTP/1.1 connection. Connections beyond
// MAX_CONNS_PER_IP (64) are reset at accept; of the rest, exactly the limit
// is minted.
func TestHundredParallelRequestsFromOneAddress(t *testing.T) {
	in := apptest.Start(t, limited)
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 100, DisableKeepAlives: true}}
	ok, lim, failed := burst(t, c, in.URL, 100, nil)
	t.Logf("100 parallel: %d minted, %d answered 429, %d reset at accept", ok, lim, failed)
	report(t, "100 parallel requests", ok, len(in.Sim.Minted()), limit)
	if ok != limit {
		t.Errorf("%d minted, want exactly the limit %d", ok, limit)
	}
}

// TestHundredHTTP2StreamsOnOneConnection: 100 mints at once as concurrent
// streams of a single HTTP/2 connection over TLS. The limit is per client,
// not per connection or stream: exactly the limit is minted.
func TestHundredHTTP2StreamsOnOneConnection(t *testing.T) {
	d := apptest.StartTLS(t, limited)
	var dials atomic.Int32
	tr := d.Client.Transport.(*http.Transport).Clone()
	tr.MaxConnsPerHost = 1
	c := &http.Client{Transport: countDials(tr, &dials)}
	var notH2 atomic.Int32
	ok, lim, failed := burst(t, c, d.URL, 100, func(r *http.Response) {
		if r.ProtoMajor != 2 {
			notH2.Add(1)
		}
	})
	t.Logf("100 streams: %d minted, %d answered 429, %d failed, %d connection(s)", ok, lim, failed, dials.Load())
	if notH2.Load() > 0 || failed > 0 || dials.Load() != 1 {
		t.Errorf("%d answers were not HTTP/2, %d requests failed, %d connections; want one HTTP/2 connection", notH2.Load(), failed, dials.Load())
	}
	report(t, "100 HTTP/2 streams on one connection", ok, len(d.Sim.Minted()), limit)
	if ok != limit {
		t.Errorf("%d minted, want exactly the limit %d", ok, limit)
	}
}

// countDials counts the TCP connections a transport opens.
func countDials(tr *http.Transport, n *atomic.Int32) *http.Transport {
	tr.DialContext = func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
		n.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return tr
}
