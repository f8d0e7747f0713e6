//go:build nowebrtcsim

package app

import (
	"log/slog"

	"github.com/rtgate/rtgate/internal/simulator"
)

// simulatorAnswerer, in a binary built with -tags nowebrtcsim, is nil: the
// simulator answers offers with its canned SDP and no media, so no pion code
// is linked.
func simulatorAnswerer(*slog.Logger) simulator.Answerer { return nil }
