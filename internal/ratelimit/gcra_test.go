package ratelimit

import (
	"testing"
	"time"
)

func TestGCRA(t *testing.T) {
	p := Policy{Limit: 10, Window: time.Minute} // one request per 6s, burst 10
	const s = int64(time.Second / time.Microsecond)
	now := int64(1_700_000_000) * s
	tests := []struct {
		name      string
		tat       int64
		allowed   bool
		remaining int
		retry     time.Duration
		reset     time.Duration
		newTAT    int64
	}{
		{"new key admits with limit-1 remaining", 0, true, 9, 0, 6 * time.Second, now + 6*s},
		{"replenished key equals a new key", now - 3600*s, true, 9, 0, 6 * time.Second, now + 6*s},
		{"TAT exactly now equals a new key", now, true, 9, 0, 6 * time.Second, now + 6*s},
		{"half used", now + 30*s, true, 4, 0, 36 * time.Second, now + 36*s},
		{"last request of the burst", now + 54*s, true, 0, 0, 60 * time.Second, now + 60*s},
		{"burst exhausted is denied for one interval", now + 60*s, false, 0, 6 * time.Second, 60 * time.Second, now + 60*s},
		{"one microsecond short is denied", now + 54*s + 1, false, 0, 1 * time.Microsecond, 54*time.Second + time.Microsecond, now + 54*s + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newTAT, d := gcra(now, tt.tat, p)
			if d.Allowed != tt.allowed || d.Remaining != tt.remaining || d.RetryAfter != tt.retry || d.ResetAfter != tt.reset {
				t.Errorf("gcra = %+v; want allowed=%v remaining=%d retry=%v reset=%v", d, tt.allowed, tt.remaining, tt.retry, tt.reset)
			}
			if newTAT != tt.newTAT {
				t.Errorf("newTAT = %d; want %d", newTAT, tt.newTAT)
			}
			if d.Limit != 10 || d.Window != time.Minute {
				t.Errorf("decision policy = %d/%v", d.Limit, d.Window)
			}
		})
	}
}

// TestGCRANeverAdmitsMoreThanLimitPlusRefill drives a client that retries
// every 100ms for ten windows and checks, over every sliding window, that the
// admitted count is at most Limit plus what refilled (no 2N at a boundary).
func TestGCRANeverAdmitsMoreThanLimitPlusRefill(t *testing.T) {
	p := Policy{Limit: 10, Window: 10 * time.Second}
	step := int64(100_000) // 100ms in µs
	var tat int64
	var admitted []int64
	start := int64(1_000_000_000_000)
	for now := start; now < start+100*1_000_000; now += step {
		n, d := gcra(now, tat, p)
		if d.Allowed {
			tat = n
			admitted = append(admitted, now)
		}
	}
	win := p.Window.Microseconds()
	for i := range admitted {
		n := 0
		for j := i; j < len(admitted) && admitted[j] < admitted[i]+win; j++ {
			n++
		}
		// Burst of 10, then 1 per second: at most 10 + 10 refills in a window.
		if n > 2*p.Limit-1 {
			t.Fatalf("window starting at %d admitted %d", admitted[i], n)
		}
	}
	// Steady state: one per emission interval, so ~Limit per window.
	if got, want := len(admitted), 10+99; got != want {
		t.Fatalf("admitted %d over 100s; want %d (burst 10 + one per second)", got, want)
	}
}

// TestGCRAWorstCaseInAnyWindow: with burst B and N per window, a client that
// spends its burst and then asks as often as it is let in gets B+N-1
// requests in its busiest window: the issue 11 figure (19 for 10 per 10 s)
// at the default B = N, exactly N at B = 1.
func TestGCRAWorstCaseInAnyWindow(t *testing.T) {
	for _, tc := range []struct {
		burst, worst int
	}{
		{0, 19}, // default: the burst is the limit
		{10, 19},
		{5, 14},
		{1, 10},
	} {
		p := Policy{Limit: 10, Window: 10 * time.Second, Burst: tc.burst}
		step := int64(10_000) // 10ms
		var tat int64
		var admitted []int64
		start := int64(1_000_000_000_000)
		for now := start; now < start+60*1_000_000; now += step {
			if n, d := gcra(now, tat, p); d.Allowed {
				tat = n
				admitted = append(admitted, now)
			}
		}
		worst := 0
		win := p.Window.Microseconds()
		for i := range admitted {
			n := 0
			for j := i; j < len(admitted) && admitted[j] < admitted[i]+win; j++ {
				n++
			}
			worst = max(worst, n)
		}
		if worst != tc.worst {
			t.Errorf("burst %d: busiest window admitted %d; want B+N-1 = %d", tc.burst, worst, tc.worst)
		}
	}
}

func TestEmissionIntervalRoundsDownToMicroseconds(t *testing.T) {
	tests := []struct {
		p    Policy
		want int64
	}{
		{Policy{Limit: 10, Window: time.Minute}, 6_000_000},
		{Policy{Limit: 7, Window: time.Minute}, 8_571_428},
		{Policy{Limit: 3, Window: 3 * time.Microsecond}, 1},
	}
	for _, tt := range tests {
		if got := emissionInterval(tt.p); got != tt.want {
			t.Errorf("emissionInterval(%+v) = %d; want %d", tt.p, got, tt.want)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"zero is off and valid", Policy{}, true},
		{"limit zero with a window is off", Policy{Window: time.Minute}, true},
		{"guide default", Policy{Limit: 10, Window: time.Minute}, true},
		{"negative limit", Policy{Limit: -1, Window: time.Minute}, false},
		{"zero window", Policy{Limit: 10}, false},
		{"window shorter than 1µs per request", Policy{Limit: 10, Window: 9 * time.Microsecond}, false},
		{"burst below the limit", Policy{Limit: 10, Window: time.Minute, Burst: 1}, true},
		{"burst above the limit", Policy{Limit: 10, Window: time.Minute, Burst: 11}, false},
		{"negative burst", Policy{Limit: 10, Window: time.Minute, Burst: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v; want ok=%v", err, tt.ok)
			}
		})
	}
}
