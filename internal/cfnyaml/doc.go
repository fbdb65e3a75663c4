// Package cfnyaml reads CloudFormation and SAM templates (and other YAML files such as
// openapi.yaml) into plain Go values: map[string]any, []any, string, int, float64, bool
// and nil. CloudFormation's short-form tags become their long forms, so a template
// written with !Ref and one written with {"Ref": ...} read the same.
//
// It serves the local API (internal/localapi), which routes and wires a local stack from
// template.yaml, and the deployment tests (internal/deploytest), which check the same
// file; both must read the template alike.
package cfnyaml
