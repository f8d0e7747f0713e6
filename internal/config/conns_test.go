package config

import (
	"slices"
	"strings"
	"testing"
)

func TestConnectionCaps(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		perIP, max int
		masked     string // MAX_CONNS as config check prints it
	}{
		{"defaults: 64 per address, total derived at start-up", map[string]string{}, DefaultMaxConnsPerIP, AutoMaxConns, "auto"},
		{"auto may be spelled out", map[string]string{"MAX_CONNS": "AUTO"}, DefaultMaxConnsPerIP, AutoMaxConns, "auto"},
		{"both set", map[string]string{"MAX_CONNS_PER_IP": "20", "MAX_CONNS": "5000"}, 20, 5000, "5000"},
		{"0 disables either", map[string]string{"MAX_CONNS_PER_IP": "0", "MAX_CONNS": "0"}, 0, 0, "0"},
		{"a per-address cap equal to the total is allowed", map[string]string{"MAX_CONNS_PER_IP": "100", "MAX_CONNS": "100"}, 100, 100, "100"},
		{"a per-address cap with no total cap is allowed", map[string]string{"MAX_CONNS_PER_IP": "500", "MAX_CONNS": "0"}, 500, 0, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Load(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Conns.PerIP != tt.perIP || c.Conns.Max != tt.max {
				t.Fatalf("Conns = %+v, want per IP %d, max %d", c.Conns, tt.perIP, tt.max)
			}
			if !slices.Contains(c.Masked(), [2]string{"MAX_CONNS", tt.masked}) {
				t.Errorf("Masked() lacks MAX_CONNS=%s", tt.masked)
			}
		})
	}
}

func TestConnectionCapsRejectMalformedValues(t *testing.T) {
	tests := []struct {
		env  map[string]string
		name string // the variable the error must name
	}{
		{map[string]string{"MAX_CONNS_PER_IP": "-1"}, "MAX_CONNS_PER_IP"},
		{map[string]string{"MAX_CONNS_PER_IP": "lots"}, "MAX_CONNS_PER_IP"},
		{map[string]string{"MAX_CONNS": "-5"}, "MAX_CONNS"},
		{map[string]string{"MAX_CONNS": "unlimited"}, "MAX_CONNS"},
		{map[string]string{"MAX_CONNS": "1e6"}, "MAX_CONNS"},
		{map[string]string{"MAX_CONNS_PER_IP": "200", "MAX_CONNS": "100"}, "MAX_CONNS_PER_IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.name+" ") {
				t.Fatalf("%v: err = %v, want one naming %s", tt.env, err, tt.name)
			}
		})
	}
}
