package callse2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rtgate/rtgate/e2e/clustertest"
	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/httpx"
	"github.com/rtgate/rtgate/internal/pricing"
	"github.com/rtgate/rtgate/internal/simulator"
)

// Spend budgets across instances: one user's calls on two rtgate processes
// charge one budget in one Redis, and every call ends once it is told the
// budget ran out.

// spent is user's spend today as the operator sees it through in.
func spent(t *testing.T, in *clustertest.Instance, user string) pricing.Micros {
	t.Helper()
	r := in.Admin(t, "GET", "/admin/users/"+user+"/budget", "")
	var rep budget.UserReport
	if r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.Body), &rep) != nil {
		t.Fatalf("operator budget through %s: %d %s", in.URL, r.StatusCode, r.Body)
	}
	return rep.Daily.Spent
}

// metric is the sum of the samples of name whose labels hold label on in's
// admin listener.
func metric(t *testing.T, in *clustertest.Instance, name, label string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + name + `\{([^}]*)\} (\S+)$`)
	var sum float64
	for _, m := range re.FindAllStringSubmatch(in.Admin(t, "GET", "/metrics", "").Body, -1) {
		if !strings.Contains(m[1], label) {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatal(err)
		}
		sum += v
	}
	return sum
}

// told returns the ids of the calls the budget told to end (the Ender's
// "budget exhausted during a call" line, on any instance).
func told(ins []*clustertest.Instance, ids []string) map[string]bool {
	out := map[string]bool{}
	for _, in := range ins {
		for line := range strings.Lines(in.Logs()) {
			if !strings.Contains(line, `"msg":"budget exhausted during a call: ending it"`) {
				continue
			}
			for _, id := range ids {
				if strings.Contains(line, `"call":"`+id+`"`) && strings.Contains(line, `"limit":"user_daily"`) {
					out[id] = true
				}
			}
		}
	}
	return out
}

// refusedOnEach checks that a call by auth through each of ins is refused
// with 429 and code, and that the upstream never saw one.
func refusedOnEach(t *testing.T, c *clustertest.Cluster, ins []*clustertest.Instance, auth, code string) {
	t.Helper()
	before := c.Sim.Requests()
	for _, in := range ins {
		r := in.Do(t, "POST", "/api/realtime-call", clustertest.Offer, "Content-Type: application/sdp", auth)
		if r.StatusCode != http.StatusTooManyRequests || !strings.Contains(r.Body, `"code":"`+code+`"`) {
			t.Fatalf("a call through %s: %d %s, want 429 %s", in.URL, r.StatusCode, r.Body, code)
		}
		if strings.Contains(r.Body, c.Key) || strings.Contains(r.Body, "rtc_") {
			t.Fatalf("a refusal through %s leaked the key or an upstream call id: %s", in.URL, r.Body)
		}
	}
	if c.Sim.Requests() != before {
		t.Fatal("a refused call reached the upstream")
	}
}

// TestTwoInstancesChargeOneUsersBudgetWithinTheBound: alice holds k = 4
// calls, two on each instance, under a daily budget L of $0.55. Every
// round, each call she has not been told to end gets one response of a
// known cost at once, on both instances. The test holds back the calls the
// budget told to end (so no call uses anything in a grace: gᵢ = 0) and
// waits on conditions only. Then:
//
//   - every response emitted is charged exactly once (the operator's spend
//     is the sum of the emitted costs, after every round and at the end;
//     the instances' cost counters add up to it);
//   - each charge is told "exhausted" exactly when the shared total crosses
//     L, so the calls told are the charges from the ⌈L/step⌉-th on, and all
//     k are ended upstream with budget_exhausted;
//   - spend − L < k × step (docs/budgets.md: spend − L < Σ sᵢ + Σ gᵢ).
func TestTwoInstancesChargeOneUsersBudgetWithinTheBound(t *testing.T) {
	t.Parallel()
	const (
		k                    = 4
		limit pricing.Micros = 550_000 // USER_DAILY_BUDGET_USD=0.55
		// One response on gpt-realtime-2.1 (per 1M tokens: text in $4,
		// audio in $32, cached $0.40, text out $24, audio out $64):
		// 500 text in, 1000 audio in of which 400 cached, 50 text out,
		// 600 audio out: 500×4 + 600×32 + 400×0.40 + 50×24 + 600×64
		// = 2000 + 19200 + 160 + 1200 + 38400 = 60,960 µ$.
		step pricing.Micros = 60_960
	)
	var usage simulator.Usage
	usage.InputTokenDetails.TextTokens, usage.InputTokenDetails.AudioTokens = 500, 1000
	usage.InputTokenDetails.CachedTokensDetails.AudioTokens = 400
	usage.OutputTokenDetails.TextTokens, usage.OutputTokenDetails.AudioTokens = 50, 600

	c := clustertest.New(t, map[string]string{"REALTIME_MODEL": "gpt-realtime-2.1", "USER_DAILY_BUDGET_USD": "0.55",
		"BUDGET_MIN_CALL_USD": "0.01", "USER_MAX_ACTIVE_SESSIONS": strconv.Itoa(k)})
	a, b := c.Start(t), c.Start(t)
	ins := []*clustertest.Instance{a, b}
	alice := c.Bearer(t, "alice")
	var (
		all []*clustertest.Call
		ids []string
	)
	for i := range k {
		call := ins[i%2].CreateCall(t, alice)
		all = append(all, call)
		ids = append(ids, strings.TrimPrefix(call.Location, "/api/realtime-call/"))
	}
	// A fifth call is over alice's cap on either instance.
	refusedOnEach(t, c, ins, alice, httpx.CodeSessionLimit)
	for _, call := range all {
		clustertest.WaitFor(t, "the sideband of "+call.UpstreamID, func() bool { return c.Sim.Sidebands(call.UpstreamID) == 1 })
	}

	// The n-th charge leaves n × step spent; it is told "exhausted" when
	// that reaches L: from the ⌈L/step⌉-th (the 10th) on.
	first := int((limit + step - 1) / step)
	emitted := 0
	var stopped map[string]bool
	for round := 1; len(stopped) < k; round++ {
		if round > 2*first {
			t.Fatalf("round %d: %d of %d calls told to end", round, len(stopped), k)
		}
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			sent int
		)
		for i, call := range all {
			if stopped[ids[i]] {
				continue // told: it gets nothing more
			}
			wg.Go(func() {
				if _, err := c.Sim.EmitResponse(call.UpstreamID, usage); err != nil {
					t.Errorf("round %d, %s: %v", round, call.UpstreamID, err)
					return
				}
				mu.Lock()
				sent++
				mu.Unlock()
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		emitted += sent
		want := pricing.Micros(emitted) * step
		// Through either instance: one budget.
		in := ins[round%2]
		clustertest.WaitFor(t, fmt.Sprintf("%s charged after round %d", want, round), func() bool {
			got := spent(t, in, "alice")
			if got > want {
				t.Fatalf("round %d: charged %s, more than the %d responses emitted cost (%s)", round, got, emitted, want)
			}
			return got == want
		})
		wantTold := max(0, emitted-first+1)
		clustertest.WaitFor(t, fmt.Sprintf("%d calls told to end after round %d", wantTold, round), func() bool {
			stopped = told(ins, ids)
			return len(stopped) >= wantTold
		})
		if wantTold == 0 && len(stopped) > 0 {
			t.Fatalf("round %d: %s spent of %s, and calls were told to end: %v", round, want, limit, stopped)
		}
		t.Logf("round %d: %d responses emitted, %s charged, %d calls told to end", round, emitted, want, len(stopped))
	}

	for _, call := range all {
		c.WaitHungUp(t, call)
		clustertest.WaitFor(t, "the end of "+call.UpstreamID+" logged", func() bool {
			return logLine(a, "call ended", call) != "" || logLine(b, "call ended", call) != ""
		})
		if line := logLine(a, "call ended", call) + logLine(b, "call ended", call); !strings.Contains(line, `"reason":"budget_exhausted"`) {
			t.Errorf("%s ended otherwise: %s", call.UpstreamID, line)
		}
	}

	total := pricing.Micros(emitted) * step
	for _, in := range ins {
		if got := spent(t, in, "alice"); got != total {
			t.Errorf("the operator sees %s through %s; %d responses cost %s", got, in.URL, emitted, total)
		}
	}
	if over := total - limit; over < 0 || over >= k*step {
		t.Errorf("spend − L = %s, want within [0, k × step = %s)", over, k*step)
	}
	var cost, hangups float64
	for _, in := range ins {
		cost += metric(t, in, "rtgate_budget_cost_dollars_total", `kind="realtime"`)
		hangups += metric(t, in, "rtgate_budget_hangups_total", `limit="user_daily"`)
	}
	if math.Abs(cost-float64(total)/float64(pricing.Dollar)) > 1e-9 || hangups != k {
		t.Errorf("the instances' counters: $%v charged, %v hang-ups; want $%s and %d", cost, hangups, total, k)
	}
	t.Logf("L = %s, step = %s, k = %d: %d responses, %s charged, spend − L = %s < k × step = %s", limit, step, k, emitted, total, total-limit, k*step)

	// Alice's next call is refused on either instance.
	refusedOnEach(t, c, ins, alice, httpx.CodeBudgetExhausted)
}
