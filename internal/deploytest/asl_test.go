package deploytest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// validateASL checks what moto's ASL parser does not: that every transition names
// an existing state, every state is reachable from StartAt, each state ends or
// moves on exactly one way, Choice rules are well-formed, and Retry/Catch error
// lists follow the rules for States.ALL. It returns every problem found.
func validateASL(def map[string]any) []error {
	v := &aslValidator{}
	states, ok := def["States"].(map[string]any)
	if !ok || len(states) == 0 {
		return []error{fmt.Errorf("States is missing or empty")}
	}
	v.states = states
	start, _ := def["StartAt"].(string)
	v.target("StartAt", start)
	for _, name := range sortedKeys(states) {
		st, ok := states[name].(map[string]any)
		if !ok {
			v.errorf("state %s is not an object", name)
			continue
		}
		v.state(name, st)
	}
	for _, name := range sortedKeys(states) {
		if !v.reachable(start)[name] {
			v.errorf("state %s is not reachable from StartAt %s", name, start)
		}
	}
	return v.errs
}

type aslValidator struct {
	states map[string]any
	errs   []error
}

func (v *aslValidator) errorf(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(format, args...))
}

// target checks that a transition names an existing state.
func (v *aslValidator) target(where string, next any) {
	name, ok := next.(string)
	if !ok || name == "" {
		v.errorf("%s: target %v is not a state name", where, next)
		return
	}
	if _, ok := v.states[name]; !ok {
		v.errorf("%s: target %q does not exist", where, name)
	}
}

func (v *aslValidator) state(name string, st map[string]any) {
	typ, _ := st["Type"].(string)
	_, hasNext := st["Next"]
	end, _ := st["End"].(bool)
	switch typ {
	case "Task", "Pass", "Wait", "Parallel", "Map":
		if hasNext == end {
			v.errorf("state %s (%s) must have exactly one of Next and End: true", name, typ)
		}
		if hasNext {
			v.target("state "+name+" Next", st["Next"])
		}
	case "Choice":
		if hasNext || end {
			v.errorf("state %s (Choice) must not have Next or End", name)
		}
		rules, _ := st["Choices"].([]any)
		if len(rules) == 0 {
			v.errorf("state %s (Choice) has no Choices", name)
		}
		for i, r := range rules {
			where := fmt.Sprintf("state %s Choices[%d]", name, i)
			rule, _ := r.(map[string]any)
			v.target(where+" Next", rule["Next"])
			v.choiceRule(where, rule, true)
		}
		if d, ok := st["Default"]; ok {
			v.target("state "+name+" Default", d)
		}
	case "Succeed", "Fail":
		if hasNext || end {
			v.errorf("state %s (%s) is terminal and must not have Next or End", name, typ)
		}
	default:
		v.errorf("state %s has unknown Type %q", name, typ)
	}
	if typ == "Task" {
		if r, _ := st["Resource"].(string); r == "" {
			v.errorf("state %s (Task) has no Resource", name)
		}
		v.exclusive(name, st, "TimeoutSeconds", "TimeoutSecondsPath")
		v.exclusive(name, st, "HeartbeatSeconds", "HeartbeatSecondsPath")
		t, tok := st["TimeoutSeconds"].(float64)
		h, hok := st["HeartbeatSeconds"].(float64)
		if tok && hok && h >= t {
			v.errorf("state %s: HeartbeatSeconds %v must be smaller than TimeoutSeconds %v", name, h, t)
		}
	}
	if typ == "Wait" {
		n := 0
		for _, k := range []string{"Seconds", "SecondsPath", "Timestamp", "TimestampPath"} {
			if _, ok := st[k]; ok {
				n++
			}
		}
		if n != 1 {
			v.errorf("state %s (Wait) must have exactly one of Seconds, SecondsPath, Timestamp, TimestampPath", name)
		}
	}
	if typ == "Fail" {
		v.exclusive(name, st, "Error", "ErrorPath")
		v.exclusive(name, st, "Cause", "CausePath")
	}
	v.errorList(name, "Retry", st["Retry"], false)
	v.errorList(name, "Catch", st["Catch"], true)
}

// exclusive reports a state that has both a field and its Path form.
func (v *aslValidator) exclusive(name string, st map[string]any, a, b string) {
	_, hasA := st[a]
	_, hasB := st[b]
	if hasA && hasB {
		v.errorf("state %s has both %s and %s", name, a, b)
	}
}

// errorList checks Retry or Catch: non-empty ErrorEquals of strings, States.ALL
// alone and in the last entry, and (for Catch) an existing Next.
func (v *aslValidator) errorList(name, field string, raw any, catch bool) {
	if raw == nil {
		return
	}
	entries, ok := raw.([]any)
	if !ok {
		v.errorf("state %s %s is not a list", name, field)
		return
	}
	for i, e := range entries {
		where := fmt.Sprintf("state %s %s[%d]", name, field, i)
		entry, _ := e.(map[string]any)
		errs, _ := entry["ErrorEquals"].([]any)
		if len(errs) == 0 {
			v.errorf("%s has no ErrorEquals", where)
		}
		for _, x := range errs {
			if s, _ := x.(string); s == "States.ALL" && (len(errs) != 1 || i != len(entries)-1) {
				v.errorf("%s: States.ALL must be alone and in the last entry", where)
			}
		}
		if catch {
			v.target(where+" Next", entry["Next"])
		}
	}
}

// choiceOperators are the comparison operators of a Choice rule.
var choiceOperators = []string{
	"BooleanEquals", "BooleanEqualsPath", "IsBoolean", "IsNull", "IsNumeric", "IsPresent", "IsString", "IsTimestamp",
	"NumericEquals", "NumericEqualsPath", "NumericGreaterThan", "NumericGreaterThanPath", "NumericGreaterThanEquals",
	"NumericGreaterThanEqualsPath", "NumericLessThan", "NumericLessThanPath", "NumericLessThanEquals", "NumericLessThanEqualsPath",
	"StringEquals", "StringEqualsPath", "StringGreaterThan", "StringGreaterThanPath", "StringGreaterThanEquals",
	"StringGreaterThanEqualsPath", "StringLessThan", "StringLessThanPath", "StringLessThanEquals", "StringLessThanEqualsPath",
	"StringMatches", "TimestampEquals", "TimestampEqualsPath", "TimestampGreaterThan", "TimestampGreaterThanPath",
	"TimestampGreaterThanEquals", "TimestampGreaterThanEqualsPath", "TimestampLessThan", "TimestampLessThanPath",
	"TimestampLessThanEquals", "TimestampLessThanEqualsPath",
}

// choiceRule checks one rule: And/Or with a list of rules, Not with one rule, or a
// Variable with exactly one comparison. Only top-level rules carry Next.
func (v *aslValidator) choiceRule(where string, rule map[string]any, top bool) {
	if _, ok := rule["Next"]; ok && !top {
		v.errorf("%s: a nested rule must not have Next", where)
	}
	for _, op := range []string{"And", "Or"} {
		if raw, ok := rule[op]; ok {
			subs, _ := raw.([]any)
			if len(subs) == 0 {
				v.errorf("%s: %s needs a non-empty list of rules", where, op)
			}
			for i, s := range subs {
				sub, _ := s.(map[string]any)
				v.choiceRule(fmt.Sprintf("%s.%s[%d]", where, op, i), sub, false)
			}
			return
		}
	}
	if raw, ok := rule["Not"]; ok {
		sub, _ := raw.(map[string]any)
		v.choiceRule(where+".Not", sub, false)
		return
	}
	if variable, _ := rule["Variable"].(string); !strings.HasPrefix(variable, "$") {
		v.errorf("%s: Variable %v is not a path", where, rule["Variable"])
	}
	var ops []string
	for k := range rule {
		if slices.Contains(choiceOperators, k) {
			ops = append(ops, k)
		}
	}
	if len(ops) != 1 {
		v.errorf("%s: want exactly one comparison operator, got %v", where, ops)
	}
}

// reachable is the set of states reachable from start.
func (v *aslValidator) reachable(start string) map[string]bool {
	seen := map[string]bool{}
	queue := []string{start}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		st, ok := v.states[name].(map[string]any)
		if !ok {
			continue
		}
		seen[name] = true
		queue = append(queue, successors(st)...)
	}
	return seen
}

// successors lists the states a state can move to.
func successors(st map[string]any) []string {
	var next []string
	add := func(x any) {
		if s, ok := x.(string); ok {
			next = append(next, s)
		}
	}
	add(st["Next"])
	add(st["Default"])
	for _, field := range []string{"Choices", "Catch"} {
		entries, _ := st[field].([]any)
		for _, e := range entries {
			m, _ := e.(map[string]any)
			add(m["Next"])
		}
	}
	return next
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestValidateASLCatches proves each check can fail, on small broken definitions.
func TestValidateASLCatches(t *testing.T) {
	tests := []struct {
		name, def, want string
	}{
		{"missing target", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`, `target "B" does not exist`},
		{"unreachable", `{"StartAt":"A","States":{"A":{"Type":"Succeed"},"B":{"Type":"Succeed"}}}`, "B is not reachable"},
		{"next and end", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B","End":true},"B":{"Type":"Succeed"}}}`, "exactly one of Next and End"},
		{"neither next nor end", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"x"}}}`, "exactly one of Next and End"},
		{"choice without operator", `{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.x","Next":"B"}]},"B":{"Type":"Succeed"}}}`, "exactly one comparison operator"},
		{"choice two operators", `{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.x","IsPresent":true,"BooleanEquals":true,"Next":"B"}]},"B":{"Type":"Succeed"}}}`, "exactly one comparison operator"},
		{"nested next", `{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Not":{"Variable":"$.x","IsPresent":true,"Next":"B"},"Next":"B"}]},"B":{"Type":"Succeed"}}}`, "nested rule must not have Next"},
		{"catch target", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"x","End":true,"Catch":[{"ErrorEquals":["E"],"Next":"Z"}]}}}`, `target "Z" does not exist`},
		{"states.all not alone", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"x","End":true,"Retry":[{"ErrorEquals":["States.ALL","E"]}]}}}`, "States.ALL must be alone"},
		{"heartbeat not below timeout", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"x","End":true,"TimeoutSeconds":60,"HeartbeatSeconds":60}}}`, "must be smaller"},
		{"wait without time", `{"StartAt":"A","States":{"A":{"Type":"Wait","End":true}}}`, "exactly one of Seconds"},
		{"terminal with next", `{"StartAt":"A","States":{"A":{"Type":"Fail","Next":"A"}}}`, "terminal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var def map[string]any
			if err := json.Unmarshal([]byte(tt.def), &def); err != nil {
				t.Fatal(err)
			}
			errs := validateASL(def)
			if !strings.Contains(fmt.Sprint(errs), tt.want) {
				t.Errorf("validateASL(%s) = %v; want an error containing %q", tt.def, errs, tt.want)
			}
		})
	}
}
