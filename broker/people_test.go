package broker_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/identity"
	"github.com/ffbroker/ffbroker/internal/awstest"
)

// The people of the broker's tests are moto IAM users with their own access keys:
// their identity proofs are real and checked by moto's STS.
const serverID = "ffbroker-broker-test"

// approvers are the approvers' allowlist of these tests.
var approvers = []string{bob, "arn:aws:iam::123456789012:user/carol"}

// requesters are the on-call allowlist of these tests: the four people.
var requesters = []string{alice, bob, "arn:aws:iam::123456789012:user/carol", "arn:aws:iam::123456789012:user/mallory"}

var (
	peopleOnce sync.Once
	peopleCfg  map[string]aws.Config
	peopleErr  error
)

// people creates alice, bob, carol and mallory in the package's moto once.
func people(t testing.TB) map[string]aws.Config {
	t.Helper()
	srv := shared.Moto(t)
	peopleOnce.Do(func() {
		ctx := context.Background()
		c := iam.NewFromConfig(srv.Config(ctx))
		peopleCfg = map[string]aws.Config{}
		for _, name := range []string{"alice", "bob", "carol", "mallory"} {
			if _, peopleErr = c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); peopleErr != nil {
				return
			}
			var key *iam.CreateAccessKeyOutput
			if key, peopleErr = c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)}); peopleErr != nil {
				return
			}
			cfg := srv.Config(ctx)
			cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")
			peopleCfg[name] = cfg
		}
	})
	if peopleErr != nil {
		t.Fatal(peopleErr)
	}
	return peopleCfg
}

// proofs checks kept proofs against moto's STS, as the functions do
// (lambdafn.LedgerProofs), with the tests' approvers.
type proofs struct {
	v                     *identity.Verifier
	approvers, requesters identity.Patterns
}

func newProofs(t testing.TB, moreRequesters ...string) proofs {
	t.Helper()
	srv := shared.Moto(t)
	v := identity.NewVerifier(srv.Config(context.Background()), serverID, nil)
	v.MaxAge = 14 * time.Minute
	p, err := identity.ParsePatterns(strings.Join(approvers, ","))
	if err != nil {
		t.Fatal(err)
	}
	r, err := identity.ParsePatterns(strings.Join(append(append([]string(nil), requesters...), moreRequesters...), ","))
	if err != nil {
		t.Fatal(err)
	}
	return proofs{v: v, approvers: p, requesters: r}
}

// standing is what the tests' allowlists let pr do (broker.Standing, as the edge).
func (p proofs) standing(pr identity.Principal) broker.Caller {
	return broker.Standing(pr, p.approvers, p.requesters)
}

func (p proofs) CheckProof(ctx context.Context, kp broker.KeptProof) (broker.Caller, error) {
	c, err := p.v.Verify(ctx, kp.Proof, identity.Request{Method: kp.Method, Path: kp.Path, Body: kp.Body})
	if err != nil {
		if identity.ReasonOf(err) == identity.ReasonStale {
			return broker.Caller{}, &broker.Error{Code: broker.CodeConflict, Message: "stale", Err: err}
		}
		return broker.Caller{}, &broker.Error{Code: broker.CodeUnauthenticated, Message: "refused", Err: err}
	}
	out := p.standing(c.Principal)
	out.UserID = c.UserID
	return out, nil
}

// onCall is an IAM user on the requesters' list, as the edge would pass it: it may ask
// for both roles.
func onCall(arn string) broker.Caller {
	return broker.Caller{ARN: arn, Key: arn, CanAsk: true, CanAskApproval: true}
}

// proofClock makes every proof of the tests a second older than the one before, so
// that two proofs of one person for one body differ (a proof backs one request).
var proofClock atomic.Int64

// caller is who's verified identity for an API call: method, path and body, with
// the proof signed by who's own credentials at now.
func caller(t testing.TB, who, method, path string, body []byte, now time.Time) broker.Caller {
	t.Helper()
	s := identity.NewSigner(people(t)[who], serverID)
	now = now.Add(-time.Duration(proofClock.Add(1)%300) * time.Second)
	s.Now = func() time.Time { return now }
	proof, err := s.Proof(context.Background(), identity.Request{Method: method, Path: path, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	c, err := newProofs(t).CheckProof(context.Background(), broker.KeptProof{Proof: proof, Method: method, Path: path, Body: body})
	var e *broker.Error
	if errors.As(err, &e) && e.Code == broker.CodeConflict {
		// A deliberately old proof: the caller as the edge would have seen it then.
		arn := "arn:aws:iam::" + awstest.AccountID + ":user/" + who
		pr, perr := identity.ParsePrincipal(arn, nil)
		if perr != nil {
			t.Fatal(perr)
		}
		c := newProofs(t).standing(pr)
		c.Proof, c.Body = proof, body
		return c
	}
	if err != nil {
		t.Fatal(err)
	}
	c.Proof, c.Body = proof, body
	return c
}
