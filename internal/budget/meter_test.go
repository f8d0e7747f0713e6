package budget_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtgate/rtgate/internal/budget"
	"github.com/rtgate/rtgate/internal/pricing"
)

// fakeClock is a manual Clock: timers fire only when Advance passes them,
// synchronously, in Advance's goroutine. scheduled receives each new
// timer's delay.
type fakeClock struct {
	mu        sync.Mutex
	now       time.Time
	timers    []*fakeTimer
	scheduled chan time.Duration
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
	fired   bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC), scheduled: make(chan time.Duration, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	c.scheduled <- d
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.fired || t.stopped {
			return false
		}
		t.stopped = true
		return true
	}
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for _, t := range c.timers {
		if !t.fired && !t.stopped && !t.at.After(c.now) {
			t.fired = true
			due = append(due, t.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// control is a fake sideband controller: it records what it was asked
// and reports each action on a channel.
type control struct {
	said    chan string // call id
	ended   chan string // call id + " " + reason
	sayErr  error
	mu      sync.Mutex
	endings map[string]int
}

func newControl() *control {
	return &control{said: make(chan string, 16), ended: make(chan string, 16), endings: map[string]int{}}
}

func (c *control) Say(_ context.Context, callID, text string) error {
	if text == "" {
		return errors.New("empty line")
	}
	c.said <- callID + " " + text
	return c.sayErr
}

func (c *control) End(_ context.Context, callID, reason string) error {
	c.mu.Lock()
	c.endings[callID]++
	c.mu.Unlock()
	c.ended <- callID + " " + reason
	return nil
}

func (c *control) endCount(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endings[id]
}

func recv(t *testing.T, ch <-chan string, what string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
		return ""
	}
}

func none(t *testing.T, ch <-chan string, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %s", what, v)
	default:
	}
}

func newEnder(t *testing.T, ctl budget.CallControl, line string, grace time.Duration, clk budget.Clock) (*budget.Ender, *budget.Metrics) {
	t.Helper()
	m := budget.NewMetrics()
	if err := m.Register(prometheus.NewRegistry(), false); err != nil {
		t.Fatal(err)
	}
	e, err := budget.NewEnder(budget.EnderOptions{Control: ctl, ClosingLine: line, Grace: grace, Clock: clk, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return e, m
}

var alice = budget.Call{ID: "call_a", User: "alice", Kind: budget.KindRealtime, Model: "gpt-realtime-2.1"}

func TestEnderWithoutClosingLineEndsAtOnceAndOnce(t *testing.T) {
	ctl, clk := newControl(), newFakeClock()
	e, _ := newEnder(t, ctl, "", 10*time.Second, clk)
	ctx := context.Background()
	e.Exhausted(ctx, alice, budget.LimitUserDaily)
	e.Exhausted(ctx, alice, budget.LimitUserDaily) // a second exhausted step meanwhile
	if got := recv(t, ctl.ended, "end"); got != "call_a budget_exhausted" {
		t.Fatalf("ended %q", got)
	}
	none(t, ctl.said, "closing line")
	// The second Exhausted found the call being ended (marked at once,
	// under the lock, by the first) and did nothing.
	if n := ctl.endCount("call_a"); n != 1 {
		t.Fatalf("ended %d times", n)
	}
}

func TestEnderSaysTheClosingLineThenEndsAtTheGrace(t *testing.T) {
	ctl, clk := newControl(), newFakeClock()
	e, _ := newEnder(t, ctl, "Your time is up for today. Goodbye!", 10*time.Second, clk)
	e.Exhausted(context.Background(), alice, budget.LimitUserMinutes)
	if got := recv(t, ctl.said, "closing line"); got != "call_a Your time is up for today. Goodbye!" {
		t.Fatalf("said %q", got)
	}
	if d := <-clk.scheduled; d != 10*time.Second {
		t.Fatalf("end scheduled after %v, want the grace", d)
	}
	clk.Advance(10*time.Second - time.Millisecond)
	none(t, ctl.ended, "end before the grace")
	clk.Advance(time.Millisecond)
	if got := recv(t, ctl.ended, "end at the grace"); got != "call_a budget_exhausted" {
		t.Fatalf("ended %q", got)
	}
}

func TestEnderEndsAtOnceWhenTheLineCannotBeSaid(t *testing.T) {
	ctl, clk := newControl(), newFakeClock()
	ctl.sayErr = errors.New("sideband closed")
	e, _ := newEnder(t, ctl, "Goodbye!", 10*time.Second, clk)
	e.Exhausted(context.Background(), alice, budget.LimitGlobalDaily)
	recv(t, ctl.said, "attempted closing line")
	recv(t, ctl.ended, "end")
}

func TestEnderGraceZeroSkipsTheLine(t *testing.T) {
	ctl, clk := newControl(), newFakeClock()
	e, _ := newEnder(t, ctl, "Goodbye!", 0, clk)
	e.Exhausted(context.Background(), alice, budget.LimitUserDaily)
	recv(t, ctl.ended, "end")
	none(t, ctl.said, "closing line")
}

func TestEnderForgetCancelsAPendingEnd(t *testing.T) {
	ctl, clk := newControl(), newFakeClock()
	e, _ := newEnder(t, ctl, "Goodbye!", 10*time.Second, clk)
	e.Exhausted(context.Background(), alice, budget.LimitUserDaily)
	recv(t, ctl.said, "closing line")
	<-clk.scheduled
	e.Forget("call_a") // the user hung up during the line
	clk.Advance(time.Minute)
	none(t, ctl.ended, "end of a forgotten call")
	if e.Pending() != 0 {
		t.Fatal("forgotten call still pending")
	}
}

func TestEnderCloseEndsPendingCallsAtOnce(t *testing.T) {
	ctl, clk := newControl(), newFakeClock()
	e, _ := newEnder(t, ctl, "Goodbye!", 10*time.Second, clk)
	e.Exhausted(context.Background(), alice, budget.LimitUserDaily)
	recv(t, ctl.said, "closing line")
	<-clk.scheduled
	e.Close(context.Background())
	if got := recv(t, ctl.ended, "end on close"); got != "call_a budget_exhausted" {
		t.Fatalf("ended %q", got)
	}
	e.Exhausted(context.Background(), budget.Call{ID: "call_b"}, budget.LimitUserDaily)
	none(t, ctl.said, "a line after close")
}

// TestMeterEndsTheCallThatRunsOut: a user with a 10-cent daily budget on a
// gpt-realtime-2.1 call. Each response costs 3.746 cents (step 2 of the
// scripted call); the third crosses the budget and the call is ended,
// once, within the grace, whatever else is reported meanwhile.
func TestMeterEndsTheCallThatRunsOut(t *testing.T) {
	b, _, _ := newBudget(t, budget.Options{Limits: limits(10*pricing.Cent, budget.NoLimit, budget.NoLimit, budget.NoLimit)})
	ctl, clk := newControl(), newFakeClock()
	e, _ := newEnder(t, ctl, "That's all for today.", 5*time.Second, clk)
	m := &budget.Meter{Charger: b, Ender: e}
	ctx := context.Background()
	step := budget.Usage{Realtime: realtime(320, 300, 490, 150, 30, 400)}
	for i := 1; i <= 2; i++ {
		if r := m.Usage(ctx, alice, step); r.Exhausted != "" {
			t.Fatalf("response %d exhausted the budget (%s spent)", i, r.Balance.Spent.UserDaily)
		}
	}
	none(t, ctl.said, "closing line")
	r := m.Usage(ctx, alice, step)
	// 3 × $0.03746 = $0.11238: over by $0.01238, less than one step.
	if r.Exhausted != budget.LimitUserDaily || r.Balance.Spent.UserDaily != 112_380 {
		t.Fatalf("third response: %+v", r)
	}
	recv(t, ctl.said, "closing line")
	<-clk.scheduled
	// The closing line's own response.done is charged too.
	m.Usage(ctx, alice, budget.Usage{Realtime: realtime(0, 0, 0, 0, 10, 50)})
	clk.Advance(5 * time.Second)
	recv(t, ctl.ended, "end")
	if n := ctl.endCount("call_a"); n != 1 {
		t.Fatalf("ended %d times", n)
	}
}

// TestMeterEndsEveryCallOfTheUserOnAnyInstance: two calls of one user on
// two instances (two Budgets over one store); the step that exhausts the
// budget on one call ends it, and the other call's next step ends that one.
func TestMeterEndsEveryCallOfTheUserOnAnyInstance(t *testing.T) {
	store := budget.NewMemory()
	o := budget.Options{Store: store, Limits: limits(budget.NoLimit, budget.NoLimit, time.Minute, budget.NoLimit)}
	b1, _, _ := newBudget(t, o)
	b2, _, _ := newBudget(t, o)
	ctl, clk := newControl(), newFakeClock()
	e, _ := newEnder(t, ctl, "", time.Second, clk)
	m1, m2 := &budget.Meter{Charger: b1, Ender: e}, &budget.Meter{Charger: b2, Ender: e}
	ctx := context.Background()
	one := budget.Call{ID: "call_1", User: "alice", Kind: budget.KindRealtime, Model: "gpt-realtime-2.1"}
	two := budget.Call{ID: "call_2", User: "alice", Kind: budget.KindRealtime, Model: "gpt-realtime-2.1"}
	m1.Usage(ctx, one, budget.Usage{Elapsed: 40 * time.Second})
	m2.Usage(ctx, two, budget.Usage{Elapsed: 20 * time.Second})
	if got := recv(t, ctl.ended, "end"); got != "call_2 budget_exhausted" {
		t.Fatalf("ended %q", got)
	}
	m1.Usage(ctx, one, budget.Usage{Elapsed: time.Second})
	if got := recv(t, ctl.ended, "end"); got != "call_1 budget_exhausted" {
		t.Fatalf("ended %q", got)
	}
}

func TestNewEnderNeedsAControl(t *testing.T) {
	if _, err := budget.NewEnder(budget.EnderOptions{}); err == nil {
		t.Fatal("no control accepted")
	}
}
