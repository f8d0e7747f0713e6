package sessioncfg

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Problem is one thing wrong with a session file: the JSON path of the
// value (for example "realtime.tools[1].name") and what is wrong with it.
type Problem struct {
	Path    string
	Message string
}

// String is "path: message", or the message alone for the whole file.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// maxProblems bounds how many problems one file reports.
const maxProblems = 50

// checker collects the problems of one validation.
type checker struct {
	problems []Problem
	warnings []string
}

func (c *checker) fail(path, format string, args ...any) {
	if len(c.problems) < maxProblems {
		c.problems = append(c.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
}

func (c *checker) warn(path, format string, args ...any) {
	c.warnings = append(c.warnings, Problem{Path: path, Message: fmt.Sprintf(format, args...)}.String())
}

// rule checks one JSON value found at path.
type rule func(c *checker, path string, v any)

// member is one known member of a JSON object.
type member struct {
	name     string
	rule     rule
	required bool
	// refuse, when set, is why the member may not appear at all.
	refuse string
}

func opt(name string, r rule) member { return member{name: name, rule: r} }
func req(name string, r rule) member { return member{name: name, rule: r, required: true} }

// refused is a member the file may not set; why says what to do instead.
func refused(name, why string) member { return member{name: name, refuse: why} }

// object accepts a JSON object with only the given members: unknown members
// are errors (OpenAI's session objects are strict).
func object(members ...member) rule {
	return func(c *checker, path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			c.fail(path, "must be an object, got %s", typeName(v))
			return
		}
		checkMembers(c, path, m, members)
	}
}

func checkMembers(c *checker, path string, m map[string]any, members []member) {
	for _, k := range sortedKeys(m) {
		i := slices.IndexFunc(members, func(f member) bool { return f.name == k })
		switch {
		case i < 0:
			c.fail(join(path, k), "unknown field; expected one of: %s", memberNames(members))
		case members[i].refuse != "":
			c.fail(join(path, k), "%s", members[i].refuse)
		case members[i].rule != nil:
			members[i].rule(c, join(path, k), m[k])
		}
	}
	for _, f := range members {
		if _, ok := m[f.name]; f.required && !ok {
			c.fail(join(path, f.name), "is required")
		}
	}
}

func memberNames(members []member) string {
	var names []string
	for _, f := range members {
		if f.refuse == "" {
			names = append(names, f.name)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// union accepts an object discriminated on its "type" member; each variant
// lists its members other than type.
func union(variants map[string][]member) rule {
	types := slices.Sorted(maps.Keys(variants))
	return func(c *checker, path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			c.fail(path, "must be an object, got %s", typeName(v))
			return
		}
		t, present := m["type"]
		if !present {
			c.fail(join(path, "type"), "is required (one of %s)", quoteList(types))
			return
		}
		ts, ok := t.(string)
		if !ok || variants[ts] == nil {
			enum(types...)(c, join(path, "type"), t)
			return
		}
		checkMembers(c, path, m, append([]member{opt("type", nil)}, variants[ts]...))
	}
}

// nullable also accepts null.
func nullable(r rule) rule {
	return func(c *checker, path string, v any) {
		if v != nil {
			r(c, path, v)
		}
	}
}

// str accepts a string of at most maxBytes bytes (0: any length), non-empty
// when nonEmpty.
func str(nonEmpty bool, maxBytes int) rule {
	return func(c *checker, path string, v any) {
		s, ok := v.(string)
		switch {
		case !ok:
			c.fail(path, "must be a string, got %s", typeName(v))
		case nonEmpty && s == "":
			c.fail(path, "must not be empty")
		case maxBytes > 0 && len(s) > maxBytes:
			c.fail(path, "must be at most %d bytes, got %d", maxBytes, len(s))
		case !utf8.ValidString(s):
			c.fail(path, "must be valid UTF-8")
		}
	}
}

// matching accepts a string matching re, described by what.
func matching(re *regexp.Regexp, what string) rule {
	return func(c *checker, path string, v any) {
		s, ok := v.(string)
		switch {
		case !ok:
			c.fail(path, "must be a string, got %s", typeName(v))
		case !re.MatchString(s):
			c.fail(path, "must be %s, got %q", what, s)
		}
	}
}

// enum accepts one of values.
func enum(values ...string) rule {
	return func(c *checker, path string, v any) {
		s, ok := v.(string)
		switch {
		case !ok:
			c.fail(path, "must be one of %s, got %s", quoteList(values), typeName(v))
		case !slices.Contains(values, s):
			c.fail(path, "must be one of %s, got %q", quoteList(values), s)
		}
	}
}

func quoteList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

func boolean(c *checker, path string, v any) {
	if _, ok := v.(bool); !ok {
		c.fail(path, "must be true or false, got %s", typeName(v))
	}
}

// integer accepts an integer literal in [lo, hi].
func integer(lo, hi int64) rule {
	return func(c *checker, path string, v any) {
		n, ok := v.(json.Number)
		if !ok || !isIntegerLiteral(n) {
			c.fail(path, "must be an integer between %d and %d, got %s", lo, hi, describe(v))
			return
		}
		i, err := n.Int64()
		if err != nil || i < lo || i > hi {
			c.fail(path, "must be an integer between %d and %d, got %s", lo, hi, n)
		}
	}
}

// number accepts a number in [lo, hi].
func number(lo, hi float64) rule {
	return func(c *checker, path string, v any) {
		r, ok := numberRat(v)
		if !ok {
			c.fail(path, "must be a number between %g and %g, got %s", lo, hi, typeName(v))
			return
		}
		if r.Cmp(new(big.Rat).SetFloat64(lo)) < 0 || r.Cmp(new(big.Rat).SetFloat64(hi)) > 0 {
			c.fail(path, "must be a number between %g and %g, got %s", lo, hi, v)
		}
	}
}

func describe(v any) string {
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	return typeName(v)
}

// array accepts an array of at most maxItems (0: any number) items, each checked by item.
func array(item rule, maxItems int) rule {
	return func(c *checker, path string, v any) {
		a, ok := v.([]any)
		if !ok {
			c.fail(path, "must be an array, got %s", typeName(v))
			return
		}
		if maxItems > 0 && len(a) > maxItems {
			c.fail(path, "must have at most %d items, got %d", maxItems, len(a))
			return
		}
		for i, x := range a {
			item(c, index(path, i), x)
		}
	}
}

// distinct accepts an array of strings checked by item, none repeated.
func distinct(item rule, maxItems int) rule {
	inner := array(item, maxItems)
	return func(c *checker, path string, v any) {
		inner(c, path, v)
		a, _ := v.([]any)
		seen := map[string]bool{}
		for i, x := range a {
			if s, ok := x.(string); ok {
				if seen[s] {
					c.fail(index(path, i), "repeats %q", s)
				}
				seen[s] = true
			}
		}
	}
}

// stringOr checks a string with s and any other JSON value with other.
func stringOr(s, other rule) rule {
	return func(c *checker, path string, v any) {
		if _, ok := v.(string); ok {
			s(c, path, v)
			return
		}
		other(c, path, v)
	}
}

// anyObject accepts any JSON object (a JSON Schema, free-form metadata).
func anyObject(c *checker, path string, v any) {
	if _, ok := v.(map[string]any); !ok {
		c.fail(path, "must be an object, got %s", typeName(v))
	}
}

// stringMap accepts an object whose every value is checked by value.
func stringMap(value rule) rule {
	return func(c *checker, path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			c.fail(path, "must be an object, got %s", typeName(v))
			return
		}
		for _, k := range sortedKeys(m) {
			value(c, join(path, k), m[k])
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
