package metrics

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry is rtgate's private Prometheus registry. It remembers what was
// registered on it (Described), so the README's metric list can be checked
// against the program: a registry's output shows a labelled metric only
// once it has a series, but its description is known from registration.
type Registry struct {
	*prometheus.Registry

	mu    sync.Mutex
	descs map[string]Description
}

// Description is one registered metric.
type Description struct {
	Name   string
	Help   string
	Labels []string
}

// NewRegistry returns a private registry with the Go runtime and process
// collectors already registered (they are not recorded in Described).
func NewRegistry() *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Registry{Registry: reg, descs: map[string]Description{}}
}

// Register registers c and records its descriptions.
func (r *Registry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range ch {
		if desc, ok := parseDesc(d.String()); ok {
			r.descs[desc.Name] = desc
		}
	}
	return nil
}

// MustRegister is Register that panics on an error, like prometheus's.
func (r *Registry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister unregisters c and forgets its descriptions.
func (r *Registry) Unregister(c prometheus.Collector) bool {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	var names []string
	for d := range ch {
		if desc, ok := parseDesc(d.String()); ok {
			names = append(names, desc.Name)
		}
	}
	ok := r.Registry.Unregister(c)
	if ok {
		r.mu.Lock()
		for _, n := range names {
			delete(r.descs, n)
		}
		r.mu.Unlock()
	}
	return ok
}

// Described returns every metric registered through r, by name.
func (r *Registry) Described() []Description {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Description, 0, len(r.descs))
	for _, d := range r.descs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// descPattern reads prometheus.Desc.String(), the only public view of a
// Desc: Desc{fqName: "…", help: "…", unit: "…", constLabels: {…}, variableLabels: {a,b}}.
var descPattern = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: ("(?:[^"\\]|\\.)*"), (?:unit: "(?:[^"\\]|\\.)*", )?constLabels: \{[^}]*\}, variableLabels: \{([^}]*)\}\}$`)

func parseDesc(s string) (Description, bool) {
	m := descPattern.FindStringSubmatch(s)
	if m == nil {
		return Description{}, false
	}
	name, err1 := strconv.Unquote(m[1])
	help, err2 := strconv.Unquote(m[2])
	if err1 != nil || err2 != nil {
		return Description{}, false
	}
	var labels []string
	if m[3] != "" {
		for _, l := range strings.Split(m[3], ",") {
			labels = append(labels, strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"))
		}
	}
	return Description{Name: name, Help: help, Labels: labels}, true
}
