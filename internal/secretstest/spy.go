package secretstest

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/ffbroker/ffbroker/broker/secretsmanager"
)

// Fault answers one Secrets Manager call instead of making it: call is the
// operation name, secretString what the call would have sent (empty for calls
// that send none), so tests can prove it never leaks. A nil error lets the call
// through.
type Fault func(call, secretString string) error

// ServerFault is the Fault of a Secrets Manager server error (InternalServiceError).
func ServerFault(call, _ string) error {
	return &smithy.GenericAPIError{Code: "InternalServiceError", Message: "injected fault in " + call}
}

// Spy is a secretsmanager.API that counts the calls reaching the client it wraps
// and answers those with a fault set by SetFault instead. It is safe for
// concurrent use.
type Spy struct {
	secretsmanager.API

	mu     sync.Mutex
	calls  map[string]int
	faults map[string]Fault
	all    Fault
}

// NewSpy wraps client.
func NewSpy(client secretsmanager.API) *Spy {
	return &Spy{API: client, calls: map[string]int{}, faults: map[string]Fault{}}
}

// SetFault makes every later call of the operation call answer with f; a nil f
// lets the calls through again.
func (s *Spy) SetFault(call string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == nil {
		delete(s.faults, call)
		return
	}
	s.faults[call] = f
}

// SetFaultAll makes every later call answer with f (which may let some through
// by returning nil); nil removes it.
func (s *Spy) SetFaultAll(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = f
}

// Count returns how many calls of the operation call were made, faulted or not.
func (s *Spy) Count(call string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[call]
}

// Total returns how many calls were made, faulted or not.
func (s *Spy) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

func (s *Spy) before(call string, secretString *string) error {
	s.mu.Lock()
	s.calls[call]++
	f, all := s.faults[call], s.all
	s.mu.Unlock()
	if f != nil {
		if err := f(call, aws.ToString(secretString)); err != nil {
			return err
		}
	}
	if all != nil {
		return all(call, aws.ToString(secretString))
	}
	return nil
}

// CreateSecret counts the call and answers it with its fault, if any.
func (s *Spy) CreateSecret(ctx context.Context, in *sm.CreateSecretInput, opts ...func(*sm.Options)) (*sm.CreateSecretOutput, error) {
	if err := s.before("CreateSecret", in.SecretString); err != nil {
		return nil, err
	}
	return s.API.CreateSecret(ctx, in, opts...)
}

// DescribeSecret counts the call and answers it with its fault, if any.
func (s *Spy) DescribeSecret(ctx context.Context, in *sm.DescribeSecretInput, opts ...func(*sm.Options)) (*sm.DescribeSecretOutput, error) {
	if err := s.before("DescribeSecret", nil); err != nil {
		return nil, err
	}
	return s.API.DescribeSecret(ctx, in, opts...)
}

// GetSecretValue counts the call and answers it with its fault, if any.
func (s *Spy) GetSecretValue(ctx context.Context, in *sm.GetSecretValueInput, opts ...func(*sm.Options)) (*sm.GetSecretValueOutput, error) {
	if err := s.before("GetSecretValue", nil); err != nil {
		return nil, err
	}
	return s.API.GetSecretValue(ctx, in, opts...)
}

// PutSecretValue counts the call and answers it with its fault, if any.
func (s *Spy) PutSecretValue(ctx context.Context, in *sm.PutSecretValueInput, opts ...func(*sm.Options)) (*sm.PutSecretValueOutput, error) {
	if err := s.before("PutSecretValue", in.SecretString); err != nil {
		return nil, err
	}
	return s.API.PutSecretValue(ctx, in, opts...)
}

// UpdateSecretVersionStage counts the call and answers it with its fault, if any.
func (s *Spy) UpdateSecretVersionStage(ctx context.Context, in *sm.UpdateSecretVersionStageInput, opts ...func(*sm.Options)) (*sm.UpdateSecretVersionStageOutput, error) {
	if err := s.before("UpdateSecretVersionStage", nil); err != nil {
		return nil, err
	}
	return s.API.UpdateSecretVersionStage(ctx, in, opts...)
}

// TagResource counts the call and answers it with its fault, if any.
func (s *Spy) TagResource(ctx context.Context, in *sm.TagResourceInput, opts ...func(*sm.Options)) (*sm.TagResourceOutput, error) {
	if err := s.before("TagResource", nil); err != nil {
		return nil, err
	}
	return s.API.TagResource(ctx, in, opts...)
}
