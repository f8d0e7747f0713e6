//go:build !linux

package server

import (
	"errors"
	"fmt"
	"runtime"
)

// RaiseFileLimit is implemented on Linux only, where rtgate is deployed;
// elsewhere it changes nothing and returns an error wrapping
// errors.ErrUnsupported.
func RaiseFileLimit() (FileLimit, error) {
	return FileLimit{}, fmt.Errorf("raising RLIMIT_NOFILE on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
