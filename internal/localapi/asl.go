package localapi

import (
	"encoding/json"
	"fmt"
	"sort"
)

// TokenKey is the payload key under which the rewritten definition hands a Lambda
// task's own task token to local-api; the handler never sees it.
const TokenKey = "ffbroker_local_task_token"

// Task resources of the definitions local-api can run.
const (
	lambdaInvoke     = "arn:aws:states:::lambda:invoke"
	lambdaInvokeWait = "arn:aws:states:::lambda:invoke.waitForTaskToken"
)

// TaskPlan says how the runner answers one Task state of the definition.
type TaskPlan struct {
	// Rewritten is true for a lambda:invoke task that the rewrite turned into its
	// .waitForTaskToken form: the runner sends the handler's output (or error).
	Rewritten bool
	// TokenField is the payload field carrying the task token: TokenKey for a
	// rewritten task, the definition's own field for a task that already waited.
	TokenField string
}

// Plan is a definition rewritten for moto, with what the runner does at each task.
type Plan struct {
	// Definition is the rewritten definition (JSON).
	Definition string
	// Tasks maps a Task state's name to its plan.
	Tasks map[string]TaskPlan
}

// knownState reports whether moto runs states of type typ by itself and local-api
// follows them.
func knownState(typ string) bool {
	switch typ {
	case "Pass", "Wait", "Choice", "Succeed", "Fail", "Task":
		return true
	}
	return false
}

// Rewrite turns every Lambda task (arn:aws:states:::lambda:invoke) of an ASL
// definition into its .waitForTaskToken form with the task token added to the
// payload under TokenKey, and keeps every other state and field as it is. It refuses
// any state type or Task resource it does not know how to run, a Lambda task whose
// payload is not an object, and a .waitForTaskToken task whose payload carries no
// $$.Task.Token.
func Rewrite(definition []byte) (*Plan, error) {
	var def map[string]json.RawMessage
	if err := json.Unmarshal(definition, &def); err != nil {
		return nil, fmt.Errorf("the state machine definition is not a JSON object: %w", err)
	}
	var states map[string]map[string]json.RawMessage
	if err := json.Unmarshal(def["States"], &states); err != nil || len(states) == 0 {
		return nil, fmt.Errorf("the state machine definition has no States object")
	}
	plan := &Plan{Tasks: map[string]TaskPlan{}}
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		st := states[name]
		var typ string
		_ = json.Unmarshal(st["Type"], &typ)
		if !knownState(typ) {
			return nil, fmt.Errorf("state %s: local-api does not run states of type %q", name, typ)
		}
		if typ != "Task" {
			continue
		}
		var resource string
		_ = json.Unmarshal(st["Resource"], &resource)
		if resource != lambdaInvoke && resource != lambdaInvokeWait {
			return nil, fmt.Errorf("state %s: local-api does not run the Task resource %q (only %s and its .waitForTaskToken form)", name, resource, lambdaInvoke)
		}
		var params map[string]json.RawMessage
		if err := json.Unmarshal(st["Parameters"], &params); err != nil || params == nil {
			return nil, fmt.Errorf("state %s: a Lambda task needs Parameters with FunctionName and Payload", name)
		}
		var payload map[string]json.RawMessage
		if err := json.Unmarshal(params["Payload"], &payload); err != nil || payload == nil {
			return nil, fmt.Errorf("state %s: local-api runs Lambda tasks whose Payload is an object (not Payload.$)", name)
		}
		if _, taken := payload[TokenKey+".$"]; taken {
			return nil, fmt.Errorf("state %s: the payload already uses local-api's reserved key %s", name, TokenKey)
		}
		if _, taken := payload[TokenKey]; taken {
			return nil, fmt.Errorf("state %s: the payload already uses local-api's reserved key %s", name, TokenKey)
		}
		switch resource {
		case lambdaInvoke:
			payload[TokenKey+".$"] = json.RawMessage(`"$$.Task.Token"`)
			params["Payload"] = mustJSON(payload)
			st["Parameters"] = mustJSON(params)
			st["Resource"] = mustJSON(lambdaInvokeWait)
			plan.Tasks[name] = TaskPlan{Rewritten: true, TokenField: TokenKey}
		default: // lambdaInvokeWait
			field := ""
			for k, v := range payload {
				var path string
				if json.Unmarshal(v, &path) == nil && path == "$$.Task.Token" && len(k) > 2 && k[len(k)-2:] == ".$" {
					field = k[:len(k)-2]
				}
			}
			if field == "" {
				return nil, fmt.Errorf("state %s: a .waitForTaskToken task whose payload carries no $$.Task.Token cannot be resumed", name)
			}
			plan.Tasks[name] = TaskPlan{TokenField: field}
		}
	}
	def["States"] = mustJSON(states)
	plan.Definition = string(mustJSON(def))
	return plan, nil
}

// mustJSON encodes v, which is always encodable here.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
