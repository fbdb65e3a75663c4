package localapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// MotoAccountHeader is the request header that makes moto serve a call from the
// backend of the account it names.
const MotoAccountHeader = "x-moto-account-id"

// firstExecutionAccount is the first of the moto accounts that hold one execution each.
const firstExecutionAccount = 900000000001

// maxAccountTries bounds the search for an unused moto account.
const maxAccountTries = 10000

// accounts gives every execution of the approval workflow a moto account of its own.
//
// moto 5.2 (getmoto/moto#10077, fixed upstream by #10093) deep-copies a state
// machine, with its backend and every execution in it, on each StartExecution; a
// running or finished execution holds locks that cannot be copied, so any second
// StartExecution in one account and region answers 500. local-api therefore starts
// each execution on a copy of the state machine in a fresh moto account (selected
// with MotoAccountHeader) and routes the calls that name an execution, a copy or a
// task token to that account. The handlers are unchanged: they start executions of
// FFB_STATE_MACHINE_ARN and answer task tokens as in AWS; only the account part of
// the execution ARNs they get back differs.
type accounts struct {
	home        string // the state machine of FFB_STATE_MACHINE_ARN
	homeAccount string
	definition  string // the rewritten definition each copy gets
	roleARN     string
	create      *sfn.Client // without the routing middleware

	mu      sync.Mutex
	next    int
	slots   []*slot
	byName  map[string]*slot // execution name -> its slot
	byToken map[string]string
}

// slot is one copy of the state machine in an account of its own.
type slot struct {
	account string
	arn     string
	// done is set once its execution has ended; a slot is never used again.
	done bool
}

func newAccounts(home, definition, roleARN string, create *sfn.Client) *accounts {
	a := &accounts{home: home, homeAccount: arnAccount(home), definition: definition, roleARN: roleARN, create: create,
		next: firstExecutionAccount, byName: map[string]*slot{}, byToken: map[string]string{}}
	a.slots = []*slot{{account: a.homeAccount, arn: home}}
	return a
}

// arnAccount is the account field of an ARN.
func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// inAccount is arn with its account field replaced.
func inAccount(arn, account string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return arn
	}
	parts[4] = account
	return strings.Join(parts, ":")
}

// withAccount is an sfn option that sends the call to account's moto backend.
func withAccount(account string) func(*sfn.Options) {
	return func(o *sfn.Options) {
		o.APIOptions = append(o.APIOptions, smithyhttp.SetHeaderValue(MotoAccountHeader, account))
	}
}

// forStart returns the slot for a new execution named name of the home state
// machine: the slot that already has that name (moto then answers as AWS does for a
// repeated name), else a new copy in a fresh account.
func (a *accounts) forStart(ctx context.Context, name string) (*slot, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.byName[name]; ok && name != "" {
		return s, nil
	}
	smName := a.home[strings.LastIndex(a.home, ":")+1:]
	var s *slot
	// An account whose copy exists may be in use (an earlier local-api on this moto;
	// moto answers CreateStateMachine with the existing one): a copy runs one
	// execution only and must have this definition, else take the next account.
	for tries := 0; s == nil; tries++ {
		if tries == maxAccountTries {
			return nil, fmt.Errorf("local-api: no unused moto account for the workflow's copy after %d tries", tries)
		}
		account := fmt.Sprintf("%012d", a.next)
		a.next++
		// moto's bug is per account and region, whatever the state machine: an
		// account where any execution ran (another local-api's, another stack name's)
		// is not fresh.
		used, err := a.hasExecutions(ctx, account)
		if err != nil {
			return nil, err
		}
		if used {
			continue
		}
		out, err := a.create.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(smName),
			Definition: aws.String(a.definition), RoleArn: aws.String(inAccount(a.roleARN, account))}, withAccount(account))
		var exists *sfntypes.StateMachineAlreadyExists
		switch {
		case errors.As(err, &exists):
			continue
		case err != nil:
			return nil, fmt.Errorf("local-api: create the workflow's copy in moto account %s: %w", account, err)
		}
		arn := aws.ToString(out.StateMachineArn)
		d, err := a.create.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(arn)}, withAccount(account))
		if err != nil {
			return nil, fmt.Errorf("local-api: describe the workflow's copy in moto account %s: %w", account, err)
		}
		l, err := a.create.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(arn)}, withAccount(account))
		if err != nil {
			return nil, fmt.Errorf("local-api: list the executions of the workflow's copy in moto account %s: %w", account, err)
		}
		if aws.ToString(d.Definition) != a.definition || len(l.Executions) > 0 {
			continue
		}
		s = &slot{account: account, arn: arn}
	}
	a.slots = append(a.slots, s)
	if name != "" {
		a.byName[name] = s
	}
	return s, nil
}

// hasExecutions reports whether any state machine of account has an execution.
func (a *accounts) hasExecutions(ctx context.Context, account string) (bool, error) {
	sms, err := a.create.ListStateMachines(ctx, &sfn.ListStateMachinesInput{}, withAccount(account))
	if err != nil {
		return false, fmt.Errorf("local-api: list the state machines of moto account %s: %w", account, err)
	}
	for _, sm := range sms.StateMachines {
		l, err := a.create.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: sm.StateMachineArn}, withAccount(account))
		if err != nil {
			return false, fmt.Errorf("local-api: list the executions in moto account %s: %w", account, err)
		}
		if len(l.Executions) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// learnToken records which account a task token belongs to.
func (a *accounts) learnToken(token, account string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byToken[token] = account
}

// tokenAccount is the account of a task token the runner has seen ("" if none).
func (a *accounts) tokenAccount(token string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byToken[token]
}

// active lists the slots whose execution may still run: the home state machine and
// every copy whose execution has not ended.
func (a *accounts) active() []*slot {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*slot
	for _, s := range a.slots {
		if !s.done {
			out = append(out, s)
		}
	}
	return out
}

// finish marks a copy's execution as ended.
func (a *accounts) finish(s *slot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.arn != a.home {
		s.done = true
	}
}

// accountKey is the stack value holding the account a call goes to.
type accountKey struct{}

// Middleware is the aws.Config API option that routes the Step Functions calls of
// the handlers and the runner to the right moto account (see accounts).
func (a *accounts) Middleware(stack *middleware.Stack) error {
	route := middleware.InitializeMiddlewareFunc("FFBrokerLocalAccount", func(ctx context.Context, in middleware.InitializeInput,
		next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		account := ""
		switch p := in.Parameters.(type) {
		case *sfn.StartExecutionInput:
			if aws.ToString(p.StateMachineArn) == a.home {
				s, err := a.forStart(ctx, aws.ToString(p.Name))
				if err != nil {
					return middleware.InitializeOutput{}, middleware.Metadata{}, err
				}
				cp := *p
				cp.StateMachineArn = aws.String(s.arn)
				in.Parameters = &cp
				account = s.account
			}
		case *sfn.SendTaskSuccessInput:
			account = a.tokenAccount(aws.ToString(p.TaskToken))
		case *sfn.SendTaskFailureInput:
			account = a.tokenAccount(aws.ToString(p.TaskToken))
		case *sfn.SendTaskHeartbeatInput:
			account = a.tokenAccount(aws.ToString(p.TaskToken))
		case *sfn.DescribeExecutionInput:
			account = arnAccount(aws.ToString(p.ExecutionArn))
		case *sfn.GetExecutionHistoryInput:
			account = arnAccount(aws.ToString(p.ExecutionArn))
		case *sfn.StopExecutionInput:
			account = arnAccount(aws.ToString(p.ExecutionArn))
		case *sfn.ListExecutionsInput:
			account = arnAccount(aws.ToString(p.StateMachineArn))
		case *sfn.DescribeStateMachineInput:
			account = arnAccount(aws.ToString(p.StateMachineArn))
		}
		if account != "" && account != a.homeAccount {
			ctx = middleware.WithStackValue(ctx, accountKey{}, account)
		}
		return next.HandleInitialize(ctx, in)
	})
	header := middleware.BuildMiddlewareFunc("FFBrokerLocalAccountHeader", func(ctx context.Context, in middleware.BuildInput,
		next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
		if account, ok := middleware.GetStackValue(ctx, accountKey{}).(string); ok {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				req.Header.Set(MotoAccountHeader, account)
			}
		}
		return next.HandleBuild(ctx, in)
	})
	if err := stack.Initialize.Add(route, middleware.After); err != nil {
		return err
	}
	return stack.Build.Add(header, middleware.After)
}
