//go:build !nowebrtcsim

package app

import (
	"log/slog"

	"github.com/rtgate/rtgate/internal/simulator"
	"github.com/rtgate/rtgate/internal/simulator/webrtcpeer"
)

// simulatorAnswerer is the simulator's real WebRTC peer (pion), for the
// built-in development simulator and `rtgate simulate`. Building with
// -tags nowebrtcsim leaves pion out of the binary (simpeer_nowebrtc.go).
func simulatorAnswerer(log *slog.Logger) simulator.Answerer {
	return webrtcpeer.Must(webrtcpeer.Options{Logger: log})
}
