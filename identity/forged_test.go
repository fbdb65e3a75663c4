package identity_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/ffbroker/ffbroker/identity"
	"github.com/ffbroker/ffbroker/internal/awstest"
)

// TestVerifyForged runs against a moto that checks SigV4 signatures (after the
// four setup calls), as STS does: only the real key signs a proof STS accepts.
func TestVerifyForged(t *testing.T) {
	const setupCalls = 4 // CreateUser, CreateAccessKey, PutUserPolicy, CreateRole
	e := envFor(t, awstest.Start(t, awstest.WithAuthAfter(setupCalls)))
	ctx := t.Context()

	frank := e.user(t, "frank", "")
	if _, err := e.iam.PutUserPolicy(ctx, &iam.PutUserPolicyInput{
		UserName: aws.String("frank"), PolicyName: aws.String("assume"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`),
	}); err != nil {
		t.Fatalf("PutUserPolicy() error = %v", err)
	}
	out, err := e.iam.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String("AWSReservedSSO_Engineer_abc"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/frank"},"Action":"sts:AssumeRole"}]}`),
	})
	if err != nil {
		t.Fatalf("CreateRole() error = %v", err)
	}
	roleARN := *out.Role.Arn
	// From here on moto checks every call's signature: AssumeRole is signed by frank.
	session := e.assume(t, frank, roleARN, "frank")

	forged := func(c aws.Credentials, f func(*aws.Credentials)) aws.Credentials { f(&c); return c }
	cases := []struct {
		name    string
		creds   aws.Credentials
		want    identity.Reason // "" = verified
		wantARN string          // when verified; else the STS error code the message names
	}{
		{"user, real key", frank, "", "arn:aws:iam::" + acct + ":user/frank"},
		{"sso session, real key", session, "", "arn:aws:sts::" + acct + ":assumed-role/AWSReservedSSO_Engineer_abc/frank"},
		{"user, wrong secret key", forged(frank, func(c *aws.Credentials) { c.SecretAccessKey = "forged-secret-key-0000000000000000000000" }), identity.ReasonRefused, "SignatureDoesNotMatch"},
		{"unknown access key", forged(frank, func(c *aws.Credentials) { c.AccessKeyID = "AKIAFORGED0000000000" }), identity.ReasonRefused, "InvalidClientTokenId"},
		{"session, wrong secret key", forged(session, func(c *aws.Credentials) { c.SecretAccessKey = "forged-secret-key-1111111111111111111111" }), identity.ReasonRefused, "SignatureDoesNotMatch"},
		{"session, forged session token", forged(session, func(c *aws.Credentials) { c.SessionToken = "forged-session-token" }), identity.ReasonRefused, "InvalidClientTokenId"},
		{"session key without its token", forged(session, func(c *aws.Credentials) { c.SessionToken = "" }), identity.ReasonRefused, "InvalidClientTokenId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := proof(t, e.signer(tc.creds), approveReq)
			v, calls := e.verifier()
			got, err := v.Verify(ctx, p, approveReq)
			if n := calls.Load(); n != 1 {
				t.Errorf("STS calls = %d; want 1", n)
			}
			if tc.want == "" {
				if err != nil || got.ARN != tc.wantARN {
					t.Fatalf("Verify() = %q, %v; want %q", got.ARN, err, tc.wantARN)
				}
				return
			}
			var ie *identity.Error
			if !errors.As(err, &ie) || ie.Reason != tc.want {
				t.Fatalf("Verify() = %+v, %v; want reason %s", got, err, tc.want)
			}
			if !strings.Contains(ie.Message, tc.wantARN) {
				t.Errorf("Verify() message = %q; want it to name STS's code %s", ie.Message, tc.wantARN)
			}
			assertNoSecrets(t, err, map[string]string{
				"proof": p, "signature": decodeProof(t, p).signature(),
				"secret key": tc.creds.SecretAccessKey, "session token": tc.creds.SessionToken,
			})
		})
	}
}
