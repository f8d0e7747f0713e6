package server

import (
	"syscall"
	"testing"
)

// TestRaiseFileLimitLiftsTheSoftLimitToTheHardOne lowers this process's
// soft descriptor limit, raises it again, and restores it.
func TestRaiseFileLimitLiftsTheSoftLimitToTheHardOne(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) })
	if orig.Max < 512 {
		t.Fatalf("hard descriptor limit %d is too low to run the test suite", orig.Max)
	}
	low := syscall.Rlimit{Cur: 256, Max: orig.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	fl, err := RaiseFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if fl != (FileLimit{Soft: orig.Max, Hard: orig.Max, SoftBefore: 256}) {
		t.Fatalf("got %+v, want soft and hard %d, before 256", fl, orig.Max)
	}
	var now syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now); err != nil {
		t.Fatal(err)
	}
	if now.Cur != orig.Max {
		t.Fatalf("soft limit is %d after raising, want %d", now.Cur, orig.Max)
	}
	// Raising an already raised limit changes nothing.
	if fl, err := RaiseFileLimit(); err != nil || fl.SoftBefore != orig.Max || fl.Soft != orig.Max {
		t.Fatalf("second raise: %+v, %v", fl, err)
	}
}
