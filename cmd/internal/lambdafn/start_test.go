package lambdafn

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// namedExecutions answers StartExecution and DescribeExecution like Step Functions
// for execution names: a name is taken once used, whatever the execution's status.
// It stands in for moto here because moto 5.2 answers 500 ("cannot pickle
// '_thread.RLock' object") to a StartExecution after an execution has finished.
type namedExecutions struct {
	status map[string]sfntypes.ExecutionStatus
	calls  []string
}

func (n *namedExecutions) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	name := aws.ToString(in.Name)
	n.calls = append(n.calls, name)
	if _, taken := n.status[name]; taken {
		return nil, &sfntypes.ExecutionAlreadyExists{Message: aws.String("Execution Already Exists")}
	}
	n.status[name] = sfntypes.ExecutionStatusRunning
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String("arn:aws:states:us-east-1:123456789012:execution:sm:" + name)}, nil
}

func (n *namedExecutions) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	arn := aws.ToString(in.ExecutionArn)
	return &sfn.DescribeExecutionOutput{Status: n.status[arn[strings.LastIndex(arn, ":")+1:]]}, nil
}

func TestStartReusesRunningAndRenamesFinished(t *testing.T) {
	ctx := context.Background()
	n := &namedExecutions{status: map[string]sfntypes.ExecutionStatus{}}
	h := &IssueHandler{Workflow: n, StateMachineARN: "arn:aws:states:us-east-1:123456789012:stateMachine:sm"}
	first, started, err := h.start(ctx, "ffb-rw-INC-1", "{}")
	if err != nil || !started {
		t.Fatalf("first start = %s, %v, %v; want started", first, started, err)
	}
	again, started, err := h.start(ctx, "ffb-rw-INC-1", "{}")
	if err != nil || started || again != first {
		t.Errorf("start while running = %s, started %v, %v; want the running %s", again, started, err, first)
	}
	n.status["ffb-rw-INC-1"] = sfntypes.ExecutionStatusFailed // denied
	next, started, err := h.start(ctx, "ffb-rw-INC-1", "{}")
	if err != nil || !started || next == first || !strings.HasPrefix(next, first+"-") {
		t.Errorf("start after the workflow ended = %s, started %v, %v; want a new execution named after %s", next, started, err, first)
	}
}
