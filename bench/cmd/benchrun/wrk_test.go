package main

import "testing"

func TestParseWrk(t *testing.T) {
	out := `Running 8s test @ http://127.0.0.1:18201/api/realtime-session
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.71ms    4.94ms  66.68ms   76.82%
    Req/Sec     4.35k     0.85k    6.00k    66.43%
  Latency Distribution
     50%    6.94ms
     75%    9.96ms
     90%  913.44us
     99%    1.48s
  121450 requests in 14.04s, 189.60MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 17
Requests/sec:   8649.35
Transfer/sec:     13.50MB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Requests: 121450, Seconds: 14.04, RPS: 8649.35, P50ms: 6.94, P90ms: 0.91344, P99ms: 1480, Non2xx: 17, SocketErrors: 5}
	if r != want {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
	if _, err := parseWrk("garbage"); err == nil {
		t.Fatal("garbage parsed")
	}
}
