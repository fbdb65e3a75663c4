package localapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// runner follows the approval workflow's executions in moto and runs each Lambda
// task that moto schedules on the owning function's in-process handler, once.
type runner struct {
	sfn       *sfn.Client // with the accounts middleware
	accounts  *accounts
	plan      *Plan
	functions map[string]*function // by the moto function ARN the definition names
	interval  time.Duration
	log       *slog.Logger
	done      map[string]bool // execution ARN + "#" + event id of the tasks already run
}

// run polls until ctx ends.
func (r *runner) run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		r.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll looks at every execution that may still run once.
func (r *runner) poll(ctx context.Context) {
	for _, s := range r.accounts.active() {
		if ctx.Err() != nil {
			return
		}
		out, err := r.sfn.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(s.arn)})
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("list executions", slog.String("state_machine", s.arn), slog.String("error", err.Error()))
			}
			continue
		}
		running := 0
		for _, e := range out.Executions {
			if e.Status != sfntypes.ExecutionStatusRunning {
				continue
			}
			running++
			r.execution(ctx, s.account, aws.ToString(e.ExecutionArn))
		}
		if running == 0 && len(out.Executions) > 0 {
			r.accounts.finish(s)
		}
	}
}

// execution runs the tasks of one execution that moto scheduled since the last poll.
func (r *runner) execution(ctx context.Context, account, arn string) {
	var events []sfntypes.HistoryEvent
	in := &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000}
	for {
		h, err := r.sfn.GetExecutionHistory(ctx, in)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("execution history", slog.String("execution", arn), slog.String("error", err.Error()))
			}
			return
		}
		events = append(events, h.Events...)
		if h.NextToken == nil {
			break
		}
		in.NextToken = h.NextToken
	}
	state := ""
	for _, ev := range events {
		if d := ev.StateEnteredEventDetails; d != nil {
			state = aws.ToString(d.Name)
		}
		d := ev.TaskScheduledEventDetails
		if ev.Type != sfntypes.HistoryEventTypeTaskScheduled || d == nil || aws.ToString(d.ResourceType) != "lambda" {
			continue
		}
		key := arn + "#" + strconv.FormatInt(ev.Id, 10)
		if r.done[key] {
			continue
		}
		r.done[key] = true
		r.task(ctx, account, arn, state, aws.ToString(d.Parameters))
	}
}

// task runs one scheduled Lambda task and answers moto.
func (r *runner) task(ctx context.Context, account, execARN, state, parameters string) {
	log := r.log.With(slog.String("execution", execARN), slog.String("state", state))
	plan, ok := r.plan.Tasks[state]
	if !ok {
		log.Error("a Lambda task of a state the definition does not have; left alone")
		return
	}
	var p struct {
		FunctionName string
		Payload      map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(parameters), &p); err != nil || p.Payload == nil {
		log.Error("the task's parameters have no payload object; left alone")
		return
	}
	var token string
	_ = json.Unmarshal(p.Payload[plan.TokenField], &token)
	if token == "" {
		log.Error("the task's payload carries no task token; left alone")
		return
	}
	r.accounts.learnToken(token, account)
	// The wait step accepts only FFB_STATE_MACHINE_ARN's executions: the copy's
	// execution stands for the home state machine's of the same name (see accounts).
	var exec string
	if json.Unmarshal(p.Payload["execution_arn"], &exec) == nil && exec != "" {
		p.Payload["execution_arn"] = mustJSON(inAccount(exec, r.accounts.homeAccount))
	}
	if plan.Rewritten {
		delete(p.Payload, TokenKey)
	}
	fn, ok := r.functions[p.FunctionName]
	if !ok {
		r.fail(ctx, log, token, &invokeError{Type: "Lambda.ResourceNotFoundException", Message: "local-api runs no function " + p.FunctionName})
		return
	}
	out, fail := fn.invoke(ctx, mustJSON(p.Payload))
	if ctx.Err() != nil {
		// local-api is stopping: a failure caused by the stop is not the task's.
		log.Warn("local-api stopped while the task ran; it stays scheduled in moto unanswered")
		return
	}
	switch {
	case fail != nil:
		r.fail(ctx, log, token, fail)
	case plan.Rewritten:
		// What the lambda:invoke integration gives the state: the invocation's answer
		// with the function's output as Payload.
		result := map[string]any{"ExecutedVersion": "$LATEST", "Payload": out, "StatusCode": 200,
			"SdkHttpMetadata": map[string]any{"HttpStatusCode": 200}, "SdkResponseMetadata": map[string]any{}}
		if _, err := r.sfn.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(mustJSON(result)))}); err != nil {
			log.Warn("send task success", slog.String("error", err.Error()))
		}
	}
	// A task that already waited for its token is resumed by whoever holds the
	// token (the approve function), never with the handler's output.
}

// fail ends a task with a Lambda function error: the error name is the error type,
// the cause the runtime's error payload.
func (r *runner) fail(ctx context.Context, log *slog.Logger, token string, e *invokeError) {
	if _, err := r.sfn.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(token),
		Error: aws.String(e.Type), Cause: aws.String(string(mustJSON(e)))}); err != nil {
		log.Warn("send task failure", slog.String("error", err.Error()))
	}
}
