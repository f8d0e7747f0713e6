package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoWebRTCBuildLinksNoPion: `go build -tags nowebrtcsim` (the production
// build) leaves the simulator's WebRTC peer, and so every pion package, out
// of the binary; the default build keeps it for `go run ./cmd/rtgate`.
func TestNoWebRTCBuildLinksNoPion(t *testing.T) {
	deps := func(tags ...string) []string {
		args := append([]string{"list", "-deps"}, tags...)
		out, err := exec.Command("go", append(args, ".")...).Output()
		if err != nil {
			t.Fatalf("go %v: %v", args, err)
		}
		return strings.Fields(string(out))
	}
	hasPion := func(pkgs []string) []string {
		var pion []string
		for _, p := range pkgs {
			if strings.HasPrefix(p, "github.com/pion/") || strings.HasSuffix(p, "/simulator/webrtcpeer") {
				pion = append(pion, p)
			}
		}
		return pion
	}
	if p := hasPion(deps("-tags", "nowebrtcsim")); len(p) != 0 {
		t.Errorf("-tags nowebrtcsim still links %v", p)
	}
	if p := hasPion(deps()); len(p) == 0 {
		t.Error("the default build does not link the WebRTC peer; the check above proves nothing")
	}
}
