package detach_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rtgate/rtgate/internal/detach"
)

type key struct{}

// step is one thing a scenario does to both contexts: wait on them (done),
// make a WithTimeout child (child) or a context.WithCancel child
// (withcancel), cancel the request (parent), let time pass (sleep), call
// cancel (cancel), or compare every context made so far (check; also done
// after the last step). A check waits on the contexts, so the steps before
// the first check see a detach.Context nobody waited on yet.
type step struct {
	op string
	d  time.Duration
}

// TestMatchesWithDeadlineOfWithoutCancel drives a detach.Context and the
// construction it stands for, context.WithDeadline(
// context.WithoutCancel(parent), d), through the same steps in a synctest
// bubble (fake time) and compares them after every step: Err, Deadline,
// the parent's value, and the same for every child made with WithTimeout
// (context.WithTimeout on the reference) and context.WithCancel.
func TestMatchesWithDeadlineOfWithoutCancel(t *testing.T) {
	const deadline = 10 * time.Second
	tests := []struct {
		name  string
		steps []step
	}{
		{"deadline passes untouched", []step{{"sleep", 5 * time.Second}, {"sleep", 6 * time.Second}}},
		{"deadline passes, checked on the way", []step{{"check", 0}, {"sleep", 5 * time.Second}, {"check", 0}, {"sleep", 6 * time.Second}}},
		{"request canceled: not followed", []step{{"parent", 0}, {"sleep", time.Second}}},
		{"canceled before anyone waited", []step{{"cancel", 0}}},
		{"canceled before anyone waited, checked after the deadline", []step{{"sleep", 9 * time.Second}, {"cancel", 0}, {"sleep", 2 * time.Second}}},
		{"canceled after the deadline, before anyone waited", []step{{"sleep", 11 * time.Second}, {"cancel", 0}}},
		{"waited on, then deadline", []step{{"done", 0}, {"sleep", 11 * time.Second}}},
		{"waited on, then canceled", []step{{"done", 0}, {"sleep", time.Second}, {"cancel", 0}}},
		{"child sooner, ends first", []step{{"child", 2 * time.Second}, {"sleep", 3 * time.Second}, {"check", 0}, {"sleep", 8 * time.Second}}},
		{"child sooner, unchecked", []step{{"child", 2 * time.Second}, {"sleep", 3 * time.Second}}},
		{"child later, ends at the deadline", []step{{"child", 30 * time.Second}, {"sleep", 9 * time.Second}, {"check", 0}, {"sleep", 2 * time.Second}}},
		{"child later, unchecked", []step{{"child", 30 * time.Second}, {"sleep", 11 * time.Second}}},
		{"child, then canceled", []step{{"child", 5 * time.Second}, {"sleep", time.Second}, {"cancel", 0}}},
		{"two children, request canceled, canceled", []step{{"child", 5 * time.Second}, {"child", 3 * time.Second}, {"parent", 0}, {"sleep", time.Second}, {"check", 0}, {"cancel", 0}}},
		{"two children, canceled unchecked", []step{{"child", 5 * time.Second}, {"child", 3 * time.Second}, {"cancel", 0}}},
		{"child after waiting", []step{{"done", 0}, {"child", 4 * time.Second}, {"sleep", 5 * time.Second}, {"check", 0}, {"cancel", 0}}},
		{"child after cancel", []step{{"cancel", 0}, {"child", 4 * time.Second}}},
		{"child after cancel past the deadline", []step{{"sleep", 11 * time.Second}, {"cancel", 0}, {"child", 4 * time.Second}}},
		{"WithCancel child ends at the deadline", []step{{"withcancel", 0}, {"check", 0}, {"sleep", 11 * time.Second}}},
		{"WithCancel child ends on cancel", []step{{"withcancel", 0}, {"cancel", 0}}},
		{"child later than a passed deadline", []step{{"sleep", 12 * time.Second}, {"child", time.Second}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				req, cancelReq := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
				defer cancelReq()
				got, cancelGot := detach.WithDeadline(req, time.Now().Add(deadline))
				want, cancelWant := context.WithDeadline(context.WithoutCancel(req), time.Now().Add(deadline))
				defer cancelGot()
				defer cancelWant()
				pairs := [][2]context.Context{{got, want}}
				for i, s := range append(tt.steps, step{"check", 0}) {
					switch s.op {
					case "done":
						_, _ = got.Done(), want.Done()
					case "child":
						g, cg := got.WithTimeout(s.d)
						w, cw := context.WithTimeout(want, s.d)
						defer cg()
						defer cw()
						pairs = append(pairs, [2]context.Context{g, w})
					case "withcancel":
						g, cg := context.WithCancel(got)
						w, cw := context.WithCancel(want)
						defer cg()
						defer cw()
						pairs = append(pairs, [2]context.Context{g, w})
					case "parent":
						cancelReq()
					case "sleep":
						time.Sleep(s.d)
					case "cancel":
						cancelGot()
						cancelWant()
					}
					synctest.Wait()
					if s.op != "check" {
						continue
					}
					for j, p := range pairs {
						if err := same(p[0], p[1]); err != nil {
							t.Fatalf("after step %d (%s %v), context %d: %v", i, s.op, s.d, j, err)
						}
					}
				}
			})
		})
	}
}

// same compares what two contexts report.
func same(got, want context.Context) error {
	gd, gok := got.Deadline()
	wd, wok := want.Deadline()
	if !gd.Equal(wd) || gok != wok {
		return fmt.Errorf("deadline %v %v, want %v %v", gd, gok, wd, wok)
	}
	if got.Err() != want.Err() {
		return fmt.Errorf("err %v, want %v", got.Err(), want.Err())
	}
	if context.Cause(got) != context.Cause(want) {
		return fmt.Errorf("cause %v, want %v", context.Cause(got), context.Cause(want))
	}
	select {
	case <-got.Done():
		if want.Err() == nil {
			return fmt.Errorf("done, want not done")
		}
	default:
		if want.Err() != nil {
			return fmt.Errorf("not done, want done")
		}
	}
	if got.Value(key{}) != "v" {
		return fmt.Errorf("value %v", got.Value(key{}))
	}
	return nil
}

// TestWithTimeoutMakesNoParentTimer: a child made before anything waits on
// the Context leaves the Context without a timer of its own — the point of
// the package — and still ends with it.
func TestWithTimeoutMakesNoParentTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, cancel := detach.WithDeadline(context.Background(), time.Now().Add(time.Minute))
		child, cancelChild := c.WithTimeout(time.Hour)
		defer cancelChild()
		if d, _ := child.Deadline(); !d.Equal(time.Now().Add(time.Minute)) {
			t.Fatalf("child deadline %v", d)
		}
		cancel()
		if child.Err() != context.Canceled || c.Err() != context.Canceled {
			t.Fatalf("after cancel: child %v, c %v", child.Err(), c.Err())
		}
	})
}

func BenchmarkWithTimeout(b *testing.B) {
	parent := context.WithValue(context.Background(), key{}, "v")
	b.Run("detach", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, cancel := detach.WithDeadline(parent, time.Now().Add(time.Minute))
			child, cancelChild := c.WithTimeout(10 * time.Second)
			_, cancelT := context.WithCancel(child) // as the transport does
			cancelT()
			cancelChild()
			cancel()
		}
	})
	b.Run("context", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, cancel := context.WithDeadline(context.WithoutCancel(parent), time.Now().Add(time.Minute))
			child, cancelChild := context.WithTimeout(c, 10*time.Second)
			_, cancelT := context.WithCancel(child)
			cancelT()
			cancelChild()
			cancel()
		}
	})
}
