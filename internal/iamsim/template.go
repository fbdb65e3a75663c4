package iamsim

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/ffbroker/ffbroker/internal/cfnyaml"
)

// Template is a CloudFormation template whose policies are read with Ref and Sub
// resolved from Params (AWS::AccountId, AWS::Region, AWS::Partition, parameters), Fn::If
// from Conditions (false unless named), and GetAtt of anything as a placeholder ARN
// unless Params names "Resource.Attribute".
type Template struct {
	Doc        map[string]any
	Params     map[string]string
	Conditions map[string]bool
}

// LoadTemplate reads path.
func LoadTemplate(t testing.TB, path string, params map[string]string) *Template {
	t.Helper()
	doc, err := cfnyaml.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return &Template{Doc: doc, Params: params, Conditions: map[string]bool{}}
}

// ManagedPolicy returns the PolicyDocument of the AWS::IAM::ManagedPolicy id.
func (tp *Template) ManagedPolicy(t testing.TB, id string) any {
	t.Helper()
	return tp.resolve(t, tp.property(t, id, "PolicyDocument"))
}

// RolePolicy returns the inline policy name of the AWS::IAM::Role id.
func (tp *Template) RolePolicy(t testing.TB, id, name string) any {
	t.Helper()
	pols, _ := tp.property(t, id, "Policies").([]any)
	for _, p := range pols {
		if m, _ := p.(map[string]any); m["PolicyName"] == name {
			return tp.resolve(t, m["PolicyDocument"])
		}
	}
	t.Fatalf("iamsim: %s has no policy %s", id, name)
	return nil
}

func (tp *Template) property(t testing.TB, id, name string) any {
	t.Helper()
	res, _ := tp.Doc["Resources"].(map[string]any)
	r, _ := res[id].(map[string]any)
	props, _ := r["Properties"].(map[string]any)
	v, ok := props[name]
	if !ok {
		t.Fatalf("iamsim: template resource %s has no %s", id, name)
	}
	return v
}

var subVar = regexp.MustCompile(`\$\{([^}]+)\}`)

func (tp *Template) resolve(t testing.TB, v any) any {
	t.Helper()
	switch x := v.(type) {
	case []any:
		out := []any{}
		for _, e := range x {
			if r := tp.resolve(t, e); r != errNoValue {
				out = append(out, r)
			}
		}
		return out
	case map[string]any:
		if len(x) == 1 {
			for k, a := range x {
				switch k {
				case "Ref":
					if a == "AWS::NoValue" {
						return errNoValue
					}
					return tp.param(t, fmt.Sprint(a))
				case "Fn::Sub":
					s, _ := a.(string)
					if l, ok := a.([]any); ok {
						s, _ = l[0].(string)
					}
					return subVar.ReplaceAllStringFunc(s, func(m string) string { return tp.param(t, m[2:len(m)-1]) })
				case "Fn::GetAtt":
					name := fmt.Sprint(a)
					if l, ok := a.([]any); ok && len(l) == 2 {
						name = fmt.Sprint(l[0]) + "." + fmt.Sprint(l[1])
					}
					return tp.param(t, name)
				case "Fn::If":
					l, _ := a.([]any)
					if len(l) != 3 {
						t.Fatalf("iamsim: malformed Fn::If %v", a)
					}
					if tp.Conditions[fmt.Sprint(l[0])] {
						return tp.resolve(t, l[1])
					}
					return tp.resolve(t, l[2])
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			if r := tp.resolve(t, e); r != errNoValue {
				out[k] = r
			}
		}
		return out
	}
	return v
}

func (tp *Template) param(t testing.TB, name string) string {
	if v, ok := tp.Params[name]; ok {
		return v
	}
	if regexp.MustCompile(`\.(Arn)$`).MatchString(name) {
		return "arn:aws:logs:" + tp.Params["AWS::Region"] + ":" + tp.Params["AWS::AccountId"] + ":log-group:placeholder-" + name
	}
	t.Fatalf("iamsim: the template's %s has no test value", name)
	return ""
}
