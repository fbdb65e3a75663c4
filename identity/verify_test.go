package identity_test

import (
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ffbroker/ffbroker/identity"
	"github.com/ffbroker/ffbroker/internal/awstest"
)

// approve is the API request most tests bind their proofs to.
var approveReq = identity.Request{
	Method: "POST",
	Path:   "/access/my_pg_firefighter_rw/approve",
	Query:  url.Values{"dry": {"1"}},
	Body:   []byte(`{"request_id":"r-1"}`),
}

const acct = awstest.AccountID

func TestVerifyIdentities(t *testing.T) {
	e := newEnv(t)
	ssoARN := e.role(t, "AWSReservedSSO_Engineer_abc")
	engARN := e.role(t, "Engineer")
	opsARN := e.role(t, "Ops")
	carol := e.user(t, "carol", "")
	dave := e.user(t, "Dave", "/eng/oncall/")

	cases := []struct {
		name    string
		creds   func(t *testing.T) aws.Credentials
		trusted []string
		wantARN string
		wantKey string
		kind    identity.Kind
	}{
		{"iam user", func(t *testing.T) aws.Credentials { return carol }, nil,
			"arn:aws:iam::" + acct + ":user/carol", "arn:aws:iam::" + acct + ":user/carol", identity.KindUser},
		{"iam user with a path, key without it, lower case", func(t *testing.T) aws.Credentials { return dave }, nil,
			"arn:aws:iam::" + acct + ":user/eng/oncall/Dave", "arn:aws:iam::" + acct + ":user/dave", identity.KindUser},
		{"sso session alice", func(t *testing.T) aws.Credentials { return e.assume(t, aws.Credentials{}, ssoARN, "alice") }, nil,
			"arn:aws:sts::" + acct + ":assumed-role/AWSReservedSSO_Engineer_abc/alice", "session/alice", identity.KindSession},
		{"sso session bob", func(t *testing.T) aws.Credentials { return e.assume(t, aws.Credentials{}, ssoARN, "bob") }, nil,
			"arn:aws:sts::" + acct + ":assumed-role/AWSReservedSSO_Engineer_abc/bob", "session/bob", identity.KindSession},
		{"plain role session alice", func(t *testing.T) aws.Credentials { return e.assume(t, aws.Credentials{}, engARN, "alice") }, nil,
			"arn:aws:sts::" + acct + ":assumed-role/Engineer/alice", "arn:aws:iam::" + acct + ":role/engineer", identity.KindRole},
		{"plain role session alice-2", func(t *testing.T) aws.Credentials { return e.assume(t, aws.Credentials{}, engARN, "alice-2") }, nil,
			"arn:aws:sts::" + acct + ":assumed-role/Engineer/alice-2", "arn:aws:iam::" + acct + ":role/engineer", identity.KindRole},
		{"trusted role by name", func(t *testing.T) aws.Credentials { return e.assume(t, aws.Credentials{}, opsARN, "Alice") }, []string{"ops"},
			"arn:aws:sts::" + acct + ":assumed-role/Ops/Alice", "session/alice", identity.KindSession},
		{"trusted role by ARN", func(t *testing.T) aws.Credentials { return e.assume(t, aws.Credentials{}, opsARN, "alice") }, []string{opsARN},
			"arn:aws:sts::" + acct + ":assumed-role/Ops/alice", "session/alice", identity.KindSession},
		{"role trusted in another account only", func(t *testing.T) aws.Credentials { return e.assume(t, aws.Credentials{}, opsARN, "alice") },
			[]string{"arn:aws:iam::999999999999:role/Ops"},
			"arn:aws:sts::" + acct + ":assumed-role/Ops/alice", "arn:aws:iam::" + acct + ":role/ops", identity.KindRole},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			creds := tc.creds(t)
			p := proof(t, e.signer(creds), approveReq)
			v, calls := e.verifier(tc.trusted...)
			got, err := v.Verify(t.Context(), p, approveReq)
			if err != nil {
				t.Fatalf("Verify() error = %v; want the caller", err)
			}
			if got.ARN != tc.wantARN || got.Principal.Key != tc.wantKey || got.Principal.Kind != tc.kind {
				t.Errorf("Verify() = ARN %q key %q kind %q; want %q, %q, %q", got.ARN, got.Principal.Key, got.Principal.Kind, tc.wantARN, tc.wantKey, tc.kind)
			}
			if got.Account != acct || got.UserID == "" {
				t.Errorf("Verify() account %q user id %q; want %s and an id", got.Account, got.UserID, acct)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("STS calls for one Verify = %d; want 1", n)
			}
		})
	}
}

// TestTwoPersonKeys verifies real moto identities and compares their keys the
// way the two-person rule does: equal keys are one person.
func TestTwoPersonKeys(t *testing.T) {
	e := newEnv(t)
	sso := e.role(t, "AWSReservedSSO_Approver_xyz")
	eng := e.role(t, "TwoPersonEngineer")
	ops := e.role(t, "TwoPersonOps")
	hank, ivy := e.user(t, "hank", ""), e.user(t, "ivy", "")
	trusted := []string{"TwoPersonOps"}
	key := func(t *testing.T, creds aws.Credentials) string {
		t.Helper()
		v, _ := e.verifier(trusted...)
		c, err := v.Verify(t.Context(), proof(t, e.signer(creds), approveReq), approveReq)
		if err != nil {
			t.Fatalf("Verify() error = %v", err)
		}
		return c.Principal.Key
	}
	none := aws.Credentials{}
	cases := []struct {
		name       string
		a, b       func(t *testing.T) aws.Credentials
		samePerson bool
	}{
		{"two IAM users", func(*testing.T) aws.Credentials { return hank }, func(*testing.T) aws.Credentials { return ivy }, false},
		{"one IAM user twice", func(*testing.T) aws.Credentials { return hank }, func(*testing.T) aws.Credentials { return hank }, true},
		{"SSO sessions of two people", func(t *testing.T) aws.Credentials { return e.assume(t, none, sso, "alice") },
			func(t *testing.T) aws.Credentials { return e.assume(t, none, sso, "bob") }, false},
		{"one person's two sessions of a non-SSO role", func(t *testing.T) aws.Credentials { return e.assume(t, none, eng, "alice") },
			func(t *testing.T) aws.Credentials { return e.assume(t, none, eng, "alice-2") }, true},
		{"two people in one non-SSO role", func(t *testing.T) aws.Credentials { return e.assume(t, none, eng, "alice") },
			func(t *testing.T) aws.Credentials { return e.assume(t, none, eng, "bob") }, true},
		{"one person in two trusted roles", func(t *testing.T) aws.Credentials { return e.assume(t, none, sso, "alice") },
			func(t *testing.T) aws.Credentials { return e.assume(t, none, ops, "Alice") }, true},
		{"a session name chosen in a non-SSO role is not the SSO person", func(t *testing.T) aws.Credentials { return e.assume(t, none, sso, "bob") },
			func(t *testing.T) aws.Credentials { return e.assume(t, none, eng, "bob") }, false},
		{"a user is not a session of the same name", func(*testing.T) aws.Credentials { return hank },
			func(t *testing.T) aws.Credentials { return e.assume(t, none, sso, "hank") }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ka, kb := key(t, tc.a(t)), key(t, tc.b(t))
			if got := ka == kb; got != tc.samePerson {
				t.Errorf("keys %q and %q: same person = %v; want %v", ka, kb, got, tc.samePerson)
			}
		})
	}
}
