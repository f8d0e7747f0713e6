// Package audit implements `rtgate audit`: black-box checks of a live
// deployment against the guide's security checklist.
package audit

import (
	"context"
	"fmt"
	"io"
)

// Main runs the audit command with args (after "audit") and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "rtgate audit: not implemented yet")
	return 2
}
