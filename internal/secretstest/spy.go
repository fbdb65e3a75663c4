package secretstest

import (
	"context"
	"errors"
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

// Spy is a secretsmanager.API that counts the calls reaching the client it wraps,
// answers those with a fault set by SetFault instead, and loses the answers of
// those set by SetLostAnswers. It is safe for
// concurrent use.
type Spy struct {
	secretsmanager.API

	mu     sync.Mutex
	calls  map[string]int
	faults map[string]Fault
	all    Fault
	lost   map[string]int // answers to lose, per operation
}

// NewSpy wraps client.
func NewSpy(client secretsmanager.API) *Spy {
	return &Spy{API: client, calls: map[string]int{}, faults: map[string]Fault{}, lost: map[string]int{}}
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

// ErrLostAnswer is the error of a call whose answer SetLostAnswers lost: the call
// took effect, but its caller cannot know it (a reset connection, a timeout).
var ErrLostAnswer = errors.New("read tcp 127.0.0.1:443: connection reset by peer")

// SetLostAnswers makes the next n calls of the operation call reach Secrets
// Manager and take effect, and then answers them with ErrLostAnswer; 0 stops it.
func (s *Spy) SetLostAnswers(call string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost[call] = n
}

// spyCall counts one call of the operation call: it answers it with its fault if
// one is set, else makes it with next and, if its answer is to be lost, answers
// ErrLostAnswer once it took effect.
func spyCall[Out any](s *Spy, call string, secretString *string, next func() (*Out, error)) (*Out, error) {
	s.mu.Lock()
	s.calls[call]++
	f, all := s.faults[call], s.all
	s.mu.Unlock()
	for _, f := range []Fault{f, all} {
		if f == nil {
			continue
		}
		if err := f(call, aws.ToString(secretString)); err != nil {
			return nil, err
		}
	}
	out, err := next()
	s.mu.Lock()
	lose := err == nil && s.lost[call] > 0
	if lose {
		s.lost[call]--
	}
	s.mu.Unlock()
	if lose {
		return nil, ErrLostAnswer
	}
	return out, err
}

// CreateSecret is a counted call (see Spy).
func (s *Spy) CreateSecret(ctx context.Context, in *sm.CreateSecretInput, opts ...func(*sm.Options)) (*sm.CreateSecretOutput, error) {
	return spyCall(s, "CreateSecret", in.SecretString, func() (*sm.CreateSecretOutput, error) { return s.API.CreateSecret(ctx, in, opts...) })
}

// DescribeSecret is a counted call (see Spy).
func (s *Spy) DescribeSecret(ctx context.Context, in *sm.DescribeSecretInput, opts ...func(*sm.Options)) (*sm.DescribeSecretOutput, error) {
	return spyCall(s, "DescribeSecret", nil, func() (*sm.DescribeSecretOutput, error) { return s.API.DescribeSecret(ctx, in, opts...) })
}

// GetSecretValue is a counted call (see Spy).
func (s *Spy) GetSecretValue(ctx context.Context, in *sm.GetSecretValueInput, opts ...func(*sm.Options)) (*sm.GetSecretValueOutput, error) {
	return spyCall(s, "GetSecretValue", nil, func() (*sm.GetSecretValueOutput, error) { return s.API.GetSecretValue(ctx, in, opts...) })
}

// PutSecretValue is a counted call (see Spy).
func (s *Spy) PutSecretValue(ctx context.Context, in *sm.PutSecretValueInput, opts ...func(*sm.Options)) (*sm.PutSecretValueOutput, error) {
	return spyCall(s, "PutSecretValue", in.SecretString, func() (*sm.PutSecretValueOutput, error) { return s.API.PutSecretValue(ctx, in, opts...) })
}

// UpdateSecretVersionStage is a counted call (see Spy).
func (s *Spy) UpdateSecretVersionStage(ctx context.Context, in *sm.UpdateSecretVersionStageInput, opts ...func(*sm.Options)) (*sm.UpdateSecretVersionStageOutput, error) {
	return spyCall(s, "UpdateSecretVersionStage", nil, func() (*sm.UpdateSecretVersionStageOutput, error) {
		return s.API.UpdateSecretVersionStage(ctx, in, opts...)
	})
}

// TagResource is a counted call (see Spy).
func (s *Spy) TagResource(ctx context.Context, in *sm.TagResourceInput, opts ...func(*sm.Options)) (*sm.TagResourceOutput, error) {
	return spyCall(s, "TagResource", nil, func() (*sm.TagResourceOutput, error) { return s.API.TagResource(ctx, in, opts...) })
}
