package calls

import "time"

// Clock is the Registry's source of time, timers included, so tests can
// drive it (callstest.Clock) instead of sleeping.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTicker returns a ticker that ticks every d, dropping ticks a slow
	// receiver misses, as time.NewTicker does.
	NewTicker(d time.Duration) Ticker
}

// Ticker is a Clock's periodic timer.
type Ticker interface {
	// C returns the channel the ticks arrive on.
	C() <-chan time.Time
	// Stop stops the ticks; it does not close the channel.
	Stop()
}

// SystemClock is the real Clock: time.Now and time.NewTicker.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// NewTicker implements Clock.
func (SystemClock) NewTicker(d time.Duration) Ticker { return systemTicker{time.NewTicker(d)} }

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time { return t.t.C }
func (t systemTicker) Stop()               { t.t.Stop() }
