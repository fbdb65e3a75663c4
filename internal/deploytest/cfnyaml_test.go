package deploytest

import (
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/internal/cfnyaml"
)

// loadYAML reads a YAML file into plain Go values with CloudFormation's short-form
// tags in their long forms (cfnyaml.Load), failing the test if it cannot.
func loadYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	m, err := cfnyaml.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Accessors for the plain values loadYAML returns. They fail the test with the
// path they were asked for, so a missing key reads as what is missing.

// obj returns v[keys...] as a mapping.
func obj(t *testing.T, v any, keys ...string) map[string]any {
	t.Helper()
	got := at(t, v, keys...)
	m, ok := got.(map[string]any)
	if !ok {
		t.Fatalf("%s is a %T, not a mapping", strings.Join(keys, "."), got)
	}
	return m
}

// str returns v[keys...] as a string.
func str(t *testing.T, v any, keys ...string) string {
	t.Helper()
	got := at(t, v, keys...)
	s, ok := got.(string)
	if !ok {
		t.Fatalf("%s is a %T (%v), not a string", strings.Join(keys, "."), got, got)
	}
	return s
}

// at walks v along keys, failing the test at the first missing one.
func at(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for i, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s is a %T, not a mapping", strings.Join(keys[:i], "."), v)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("%s is missing", strings.Join(keys[:i+1], "."))
		}
	}
	return v
}

// lookup walks v along keys and reports whether every key was there.
func lookup(v any, keys ...string) (any, bool) {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// list returns v as a list: a single value becomes a list of one.
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}
