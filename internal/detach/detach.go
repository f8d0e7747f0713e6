// Package detach makes the context of work that must outlive its request
// (issue 11): the request's values without its cancellation, and a
// deadline of its own. It behaves as
// context.WithDeadline(context.WithoutCancel(parent), d) does, but starts
// no timer until something waits on it: the work under it usually has a
// shorter deadline of its own (Context.WithTimeout), and then that one
// timer is all it costs.
package detach

import (
	"context"
	"sync"
	"time"
)

// Context carries its parent's values, not its cancellation, and ends at
// its deadline or when its cancel function is called. Its Done, Err and
// AfterFunc are those of a context.WithDeadline context made on their
// first use (with the same deadline, so it ends at the same moment).
type Context struct {
	values   context.Context // context.WithoutCancel(parent)
	deadline time.Time

	mu    sync.Mutex
	timed context.Context    // context.WithDeadline(values, deadline), made on first use
	stop  context.CancelFunc // timed's cancel
	// canceled is set when cancel ran before timed was made; early when
	// that was before the deadline (timed is then made canceled).
	canceled, early bool
	// children are the cancel functions of the contexts WithTimeout made
	// without timed: they end with c.
	child    context.CancelFunc
	children []context.CancelFunc
}

// WithDeadline returns a Context with parent's values, without parent's
// cancellation, that ends at d or when cancel is called. Call cancel when
// the work is done, as with context.WithDeadline.
func WithDeadline(parent context.Context, d time.Time) (*Context, context.CancelFunc) {
	c := &Context{values: context.WithoutCancel(parent), deadline: d}
	return c, c.cancel
}

// Deadline returns the deadline WithDeadline was given.
func (c *Context) Deadline() (time.Time, bool) { return c.deadline, true }

// Value returns the parent's value for key.
func (c *Context) Value(key any) any { return c.values.Value(key) }

// Done is closed at the deadline or when cancel is called.
func (c *Context) Done() <-chan struct{} { return c.ctx().Done() }

// Err is nil until Done is closed, then context.DeadlineExceeded or
// context.Canceled.
func (c *Context) Err() error { return c.ctx().Err() }

// AfterFunc arranges to call f once c ends (context.AfterFunc): the
// context package uses it for children, so a child needs no goroutine.
func (c *Context) AfterFunc(f func()) (stop func() bool) { return context.AfterFunc(c.ctx(), f) }

func (c *Context) String() string { return "detach.Context" }

// ctx is the context that does the waiting, made on first use.
func (c *Context) ctx() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timedLocked()
}

func (c *Context) timedLocked() context.Context {
	if c.timed == nil {
		if c.canceled && c.early {
			c.timed, c.stop = context.WithCancel(c.values)
			c.stop()
		} else {
			// Canceled at or after the deadline: the deadline came
			// first, as a timer would have had it.
			c.timed, c.stop = context.WithDeadline(c.values, c.deadline)
		}
	}
	return c.timed
}

// WithTimeout is context.WithTimeout(c, d): a child that ends after d, at
// c's deadline if that is sooner, or when c is canceled. While nothing has
// waited on c it is made from c's values with the sooner of the two
// deadlines, and c's cancel cancels it: the child's timer is the only one.
func (c *Context) WithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	c.mu.Lock()
	if c.timed != nil || c.canceled {
		parent := c.timedLocked()
		c.mu.Unlock()
		return context.WithTimeout(parent, d)
	}
	defer c.mu.Unlock()
	dl := time.Now().Add(d)
	if c.deadline.Before(dl) {
		dl = c.deadline
	}
	child, cancel := context.WithDeadline(c.values, dl)
	if c.child == nil {
		c.child = cancel
	} else {
		c.children = append(c.children, cancel)
	}
	return child, cancel
}

// cancel ends c and the children WithTimeout made.
func (c *Context) cancel() {
	c.mu.Lock()
	child, children := c.child, c.children
	c.child, c.children = nil, nil
	switch {
	case c.timed != nil:
		c.stop()
	case !c.canceled:
		c.canceled, c.early = true, time.Now().Before(c.deadline)
	}
	c.mu.Unlock()
	if child != nil {
		child()
	}
	for _, f := range children {
		f()
	}
}
