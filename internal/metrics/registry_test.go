package metrics

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegistryDescribesWhatWasRegistered(t *testing.T) {
	r := NewRegistry()
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: `a "quoted" help`}, []string{"a", "b"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "y", Help: "y", ConstLabels: prometheus.Labels{"k": "v"}})
	r.MustRegister(vec, g)
	got := r.Described()
	if len(got) != 2 || got[0].Name != "x_total" || got[0].Help != `a "quoted" help` || !slices.Equal(got[0].Labels, []string{"a", "b"}) ||
		got[1].Name != "y" || len(got[1].Labels) != 0 {
		t.Fatalf("described %+v", got)
	}
	if err := r.Register(g); err == nil {
		t.Fatal("registered twice")
	}
	if !r.Unregister(g) || len(r.Described()) != 1 {
		t.Fatalf("after unregister: %+v", r.Described())
	}
	// A vector with no series yet is not gathered, but it is described.
	mfs, _ := r.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "x_total" {
			t.Fatal("an empty vector was gathered: the test proves nothing")
		}
	}
}
