package cfnyaml_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/internal/cfnyaml"
)

// TestDecodeTags pins the tag handling the local API and the deployment tests rely on.
func TestDecodeTags(t *testing.T) {
	src := `a: !Ref X
b: !GetAtt Res.Arn
c: !Sub "arn:${AWS::Partition}:x"
d: !If [Cond, 1, !Ref AWS::NoValue]
e: !Condition C
f: "5432"
g: 5432
h: [true, null]
i: 1.5
`
	got, err := cfnyaml.Decode([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"a": map[string]any{"Ref": "X"},
		"b": map[string]any{"Fn::GetAtt": []any{"Res", "Arn"}},
		"c": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:x"},
		"d": map[string]any{"Fn::If": []any{"Cond", 1, map[string]any{"Ref": "AWS::NoValue"}}},
		"e": map[string]any{"Condition": "C"},
		"f": "5432",
		"g": 5432,
		"h": []any{true, nil},
		"i": 1.5,
	}
	if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
		t.Errorf("Decode(%q) =\n%#v\nwant\n%#v", src, got, want)
	}
}

// TestDecodeRefuses lists the documents CloudFormation would refuse or that cannot be
// read as a template.
func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"duplicate key", "a: 1\nb: 2\na: 3\n", `key "a" appears twice`},
		{"GetAtt without attribute", "a: !GetAtt Res\n", `!GetAtt "Res" has no attribute`},
		{"two documents", "a: 1\n---\nb: 2\n", "want one YAML document, got more"},
		{"empty", "", "no YAML document"},
		{"not a mapping", "- a\n- b\n", "not a mapping"},
		{"bad YAML", "a: [1, 2\n", "yaml:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cfnyaml.Decode([]byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode(%q) error = %v, want one containing %q", tc.src, err, tc.want)
			}
		})
	}
}
