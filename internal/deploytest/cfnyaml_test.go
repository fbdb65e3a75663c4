package deploytest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// loadYAML reads a YAML file into plain Go values (map[string]any, []any,
// string, int, float64, bool, nil). CloudFormation's short-form tags become
// their long forms: !Ref X is {"Ref": "X"}, !GetAtt A.B is
// {"Fn::GetAtt": ["A", "B"]}, !Condition C is {"Condition": "C"} and any other
// !Name v is {"Fn::Name": v}.
func loadYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	if len(doc.Content) != 1 {
		t.Fatalf("%s: want one YAML document, got %d", path, len(doc.Content))
	}
	v, err := plain(doc.Content[0])
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: the document is a %T, not a mapping", path, v)
	}
	return m
}

// plain converts one YAML node, resolving CloudFormation tags.
func plain(n *yaml.Node) (any, error) {
	if fn, ok := intrinsicName(n.Tag); ok {
		inner := *n
		inner.Tag = ""
		if n.Kind == yaml.ScalarNode {
			inner.Tag = "!!str"
		}
		v, err := plain(&inner)
		if err != nil {
			return nil, err
		}
		if s, ok := v.(string); ok && fn == "Fn::GetAtt" {
			resource, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q has no attribute", n.Line, s)
			}
			v = []any{resource, attr}
		}
		return map[string]any{fn: v}, nil
	}
	switch n.Kind {
	case yaml.AliasNode:
		return plain(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: key %q appears twice", n.Content[i].Line, k)
			}
			v, err := plain(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := plain(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		return scalar(n)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
}

// intrinsicName maps a short-form tag to its long-form key.
func intrinsicName(tag string) (string, bool) {
	name, ok := strings.CutPrefix(tag, "!")
	if !ok || strings.HasPrefix(name, "!") || name == "" {
		return "", false
	}
	switch name {
	case "Ref", "Condition":
		return name, true
	}
	return "Fn::" + name, true
}

// scalar resolves a scalar by its (possibly implicit) YAML 1.2 tag.
func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		return strconv.ParseBool(strings.ToLower(n.Value))
	case "!!int":
		return strconv.Atoi(n.Value)
	case "!!float":
		return strconv.ParseFloat(n.Value, 64)
	}
	return n.Value, nil
}

// TestLoadYAMLTags pins the tag handling the other tests rely on.
func TestLoadYAMLTags(t *testing.T) {
	path := t.TempDir() + "/t.yaml"
	src := `a: !Ref X
b: !GetAtt Res.Arn
c: !Sub "arn:${AWS::Partition}:x"
d: !If [Cond, 1, !Ref AWS::NoValue]
e: !Condition C
f: "5432"
g: 5432
h: [true, null]
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got := loadYAML(t, path)
	want := map[string]any{
		"a": map[string]any{"Ref": "X"},
		"b": map[string]any{"Fn::GetAtt": []any{"Res", "Arn"}},
		"c": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:x"},
		"d": map[string]any{"Fn::If": []any{"Cond", 1, map[string]any{"Ref": "AWS::NoValue"}}},
		"e": map[string]any{"Condition": "C"},
		"f": "5432",
		"g": 5432,
		"h": []any{true, nil},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("loadYAML(%q) =\n%v\nwant\n%v", src, got, want)
	}
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
