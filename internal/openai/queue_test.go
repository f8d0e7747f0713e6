package openai

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func reason(err error) string {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue.Reason
	}
	return ""
}

func TestQueueBoundsInFlightAndWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(2, 1, 5*time.Second)
		ctx := context.Background()
		r1, err1 := q.acquire(ctx)
		r2, err2 := q.acquire(ctx)
		if err1 != nil || err2 != nil {
			t.Fatalf("free slots refused: %v %v", err1, err2)
		}
		got := make(chan error, 1)
		go func() {
			r, err := q.acquire(ctx)
			if err == nil {
				r()
			}
			got <- err
		}()
		synctest.Wait()
		if q.waitingNow() != 1 || q.inFlight() != 2 {
			t.Fatalf("waiting %d in flight %d", q.waitingNow(), q.inFlight())
		}
		start := time.Now()
		if _, err := q.acquire(ctx); reason(err) != OutcomeQueueFull || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("beyond the queue: %v", err)
		}
		if time.Since(start) != 0 {
			t.Error("a full queue must refuse at once")
		}
		time.Sleep(time.Second)
		r1()
		if err := <-got; err != nil {
			t.Fatalf("waiter: %v", err)
		}
		r2()
		if q.waitingNow() != 0 || q.inFlight() != 0 {
			t.Fatalf("not back to idle: waiting %d in flight %d", q.waitingNow(), q.inFlight())
		}
	})
}

func TestQueueWaitEndsAtTheTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(1, 4, 2*time.Second)
		release, err := q.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		start := time.Now()
		_, err = q.acquire(context.Background())
		if reason(err) != OutcomeQueueTimeout {
			t.Fatalf("err %v", err)
		}
		if waited := time.Since(start); waited != 2*time.Second {
			t.Errorf("waited %v, want the queue timeout", waited)
		}
		var ue *UnavailableError
		if errors.As(err, &ue); ue.RetryAfterHint() != time.Second {
			t.Errorf("hint %v", ue.RetryAfterHint())
		}
	})
}

func TestQueueWaiterLeavesWhenTheCallerGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(1, 4, time.Minute)
		release, _ := q.acquire(context.Background())
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := q.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
		if q.waitingNow() != 0 {
			t.Fatalf("waiting %d after the caller left", q.waitingNow())
		}
	})
}

func TestQueueSizeZeroNeverWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(1, 0, time.Minute)
		release, _ := q.acquire(context.Background())
		defer release()
		if _, err := q.acquire(context.Background()); reason(err) != OutcomeQueueFull {
			t.Fatalf("err %v", err)
		}
	})
}
