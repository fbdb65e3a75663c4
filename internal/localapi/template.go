package localapi

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ffbroker/ffbroker/internal/cfnyaml"
)

// Route is one REST route of the template's API: an Api event of a function.
type Route struct {
	// Method is the HTTP method in upper case, e.g. "POST".
	Method string
	// Resource is the route template, e.g. "/access/{role}".
	Resource string
	// Function is the kind of the function that owns the route: its logical id
	// without "Function", in lower case (IssueFunction serves kind "issue").
	Function string
}

// Template is what local-api reads from template.yaml: the API routes, the
// functions, the approval state machine and the parameters' defaults.
type Template struct {
	// Routes are the Api events of every function, sorted by resource and method.
	Routes []Route
	// Functions maps a function's logical id (IssueFunction) to its kind ("issue").
	Functions map[string]string
	// StateMachine is the approval workflow's resource.
	StateMachine StateMachineResource
	// Defaults are the parameters' Default values, as strings.
	Defaults map[string]string
}

// StateMachineResource is the template's AWS::Serverless::StateMachine.
type StateMachineResource struct {
	// Name is the Name property (a plain string or an Fn::Sub of pseudo parameters).
	Name any
	// Definition is the content of DefinitionUri.
	Definition []byte
	// Substitutions are the DefinitionSubstitutions, unresolved.
	Substitutions map[string]any
}

// LoadTemplate reads the SAM template at path and the state machine definition it
// names (DefinitionUri, relative to the template).
func LoadTemplate(path string) (*Template, error) {
	top, err := cfnyaml.Load(path)
	if err != nil {
		return nil, fmt.Errorf("read the template: %w", err)
	}
	t := &Template{Functions: map[string]string{}, Defaults: map[string]string{}}
	params, _ := top["Parameters"].(map[string]any)
	for name, p := range params {
		if d, ok := p.(map[string]any)["Default"]; ok {
			t.Defaults[name] = fmt.Sprint(d)
		}
	}
	resources, _ := top["Resources"].(map[string]any)
	var machines []string
	for id, r := range resources {
		res, _ := r.(map[string]any)
		props, _ := res["Properties"].(map[string]any)
		switch res["Type"] {
		case "AWS::Serverless::Function":
			kind := strings.ToLower(strings.TrimSuffix(id, "Function"))
			events, _ := props["Events"].(map[string]any)
			var apis []Route
			for _, e := range events {
				ev, _ := e.(map[string]any)
				if ev["Type"] != "Api" {
					continue
				}
				ep, _ := ev["Properties"].(map[string]any)
				path, _ := ep["Path"].(string)
				method, _ := ep["Method"].(string)
				if path == "" || method == "" {
					return nil, fmt.Errorf("%s: an Api event of %s has no Path or Method", path, id)
				}
				apis = append(apis, Route{Method: strings.ToUpper(method), Resource: path, Function: kind})
			}
			t.Functions[id] = kind
			t.Routes = append(t.Routes, apis...)
		case "AWS::Serverless::StateMachine":
			machines = append(machines, id)
			uri, _ := props["DefinitionUri"].(string)
			if uri == "" {
				return nil, fmt.Errorf("state machine %s: local-api reads DefinitionUri, which is missing", id)
			}
			def, err := os.ReadFile(filepath.Join(filepath.Dir(path), uri))
			if err != nil {
				return nil, fmt.Errorf("state machine %s: %w", id, err)
			}
			subs, _ := props["DefinitionSubstitutions"].(map[string]any)
			t.StateMachine = StateMachineResource{Name: props["Name"], Definition: def, Substitutions: subs}
		}
	}
	if len(machines) != 1 {
		return nil, fmt.Errorf("%s: want one AWS::Serverless::StateMachine, found %d", path, len(machines))
	}
	sort.Slice(t.Routes, func(i, j int) bool {
		if t.Routes[i].Resource != t.Routes[j].Resource {
			return t.Routes[i].Resource < t.Routes[j].Resource
		}
		return t.Routes[i].Method < t.Routes[j].Method
	})
	for i := 1; i < len(t.Routes); i++ {
		if a, b := t.Routes[i-1], t.Routes[i]; a.Method == b.Method && a.Resource == b.Resource {
			return nil, fmt.Errorf("%s: route %s %s belongs to two functions", path, a.Method, a.Resource)
		}
	}
	return t, nil
}

// pseudo are the values of CloudFormation's pseudo parameters in the local stack.
type pseudo struct {
	StackName, Region, Account string
}

// resolve evaluates a template value that local-api knows how to: a string, a number,
// a Ref of a parameter (override, else its Default) or of a pseudo parameter, an
// Fn::Sub of those, and an Fn::GetAtt Arn of a function (from arns).
func (t *Template) resolve(v any, p pseudo, params, arns map[string]string) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int, float64, bool:
		return fmt.Sprint(x), nil
	case map[string]any:
		if len(x) != 1 {
			break
		}
		if ref, ok := x["Ref"].(string); ok {
			return t.ref(ref, p, params)
		}
		if sub, ok := x["Fn::Sub"].(string); ok {
			var out strings.Builder
			rest := sub
			for {
				i := strings.Index(rest, "${")
				if i < 0 {
					out.WriteString(rest)
					return out.String(), nil
				}
				j := strings.IndexByte(rest[i:], '}')
				if j < 0 {
					return "", fmt.Errorf("Fn::Sub %q: unclosed ${", sub)
				}
				val, err := t.ref(rest[i+2:i+j], p, params)
				if err != nil {
					return "", err
				}
				out.WriteString(rest[:i] + val)
				rest = rest[i+j+1:]
			}
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 && ga[1] == "Arn" {
			id, _ := ga[0].(string)
			if arn, ok := arns[id]; ok {
				return arn, nil
			}
			return "", fmt.Errorf("!GetAtt %s.Arn: not a function local-api creates", id)
		}
	}
	return "", fmt.Errorf("local-api cannot evaluate the template value %v", v)
}

// ref is the value of a parameter or pseudo parameter.
func (t *Template) ref(name string, p pseudo, params map[string]string) (string, error) {
	switch name {
	case "AWS::StackName":
		return p.StackName, nil
	case "AWS::Region":
		return p.Region, nil
	case "AWS::AccountId":
		return p.Account, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	}
	if v, ok := params[name]; ok {
		return v, nil
	}
	if v, ok := t.Defaults[name]; ok {
		return v, nil
	}
	return "", fmt.Errorf("parameter %s has no default; give it with --parameter %s=VALUE", name, name)
}

// ParseParameters parses template parameter overrides given as Name=Value.
func ParseParameters(pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("parameter %q: want Name=Value", p)
		}
		out[k] = v
	}
	return out, nil
}
