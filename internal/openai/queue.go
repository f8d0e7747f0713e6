package openai

import (
	"context"
	"sync/atomic"
	"time"
)

// queue bounds the calls in flight and the calls waiting for a slot. A
// waiter holds no goroutine of its own: it is the caller's request
// goroutine, parked on a channel send, so load beyond the bounds costs a
// quick 503, never a growing pile.
type queue struct {
	slots   chan struct{}
	waiting atomic.Int64
	size    int64
	timeout time.Duration
	release func() // gives a slot back; made once, not per call
}

func newQueue(concurrency, size int, timeout time.Duration) *queue {
	q := &queue{slots: make(chan struct{}, concurrency), size: int64(max(size, 0)), timeout: timeout}
	q.release = func() { <-q.slots }
	return q
}

// acquire takes a slot, waiting up to the queue timeout if the queue has
// room. It returns an *UnavailableError when the queue is full or the wait
// ran out, and ctx's error when the caller gave up.
func (q *queue) acquire(ctx context.Context) (release func(), err error) {
	select {
	case q.slots <- struct{}{}:
		return q.release, nil
	default:
	}
	if q.waiting.Add(1) > q.size {
		q.waiting.Add(-1)
		return nil, &UnavailableError{Reason: OutcomeQueueFull, RetryAfter: time.Second}
	}
	defer q.waiting.Add(-1)
	t := time.NewTimer(q.timeout)
	defer t.Stop()
	select {
	case q.slots <- struct{}{}:
		return q.release, nil
	case <-t.C:
		return nil, &UnavailableError{Reason: OutcomeQueueTimeout, RetryAfter: time.Second}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (q *queue) waitingNow() int { return int(max(q.waiting.Load(), 0)) }

func (q *queue) inFlight() int { return len(q.slots) }
