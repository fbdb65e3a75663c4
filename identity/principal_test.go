package identity_test

import (
	"testing"

	"github.com/ffbroker/ffbroker/identity"
)

func TestParsePrincipal(t *testing.T) {
	cases := []struct {
		arn     string
		trusted []string
		want    identity.Principal // Key "" = refused
	}{
		{"arn:aws:iam::123456789012:user/Carol", nil, identity.Principal{Key: "arn:aws:iam::123456789012:user/carol", Kind: identity.KindUser, Partition: "aws", Account: "123456789012", Name: "Carol"}},
		{"arn:aws:iam::123456789012:user/eng/oncall/Carol", nil, identity.Principal{Key: "arn:aws:iam::123456789012:user/carol", Kind: identity.KindUser, Partition: "aws", Account: "123456789012", Name: "Carol"}},
		{"arn:aws-cn:iam::123456789012:user/carol", nil, identity.Principal{Key: "arn:aws-cn:iam::123456789012:user/carol", Kind: identity.KindUser, Partition: "aws-cn", Account: "123456789012", Name: "carol"}},
		{"arn:aws-us-gov:iam::123456789012:root", nil, identity.Principal{Key: "arn:aws-us-gov:iam::123456789012:root", Kind: identity.KindRoot, Partition: "aws-us-gov", Account: "123456789012"}},
		{"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Engineer_abc/Alice", nil, identity.Principal{Key: "session/alice", Kind: identity.KindSession, Partition: "aws", Account: "123456789012", Name: "AWSReservedSSO_Engineer_abc", Session: "Alice"}},
		{"arn:aws:sts::210987654321:assumed-role/AWSReservedSSO_ReadOnly_def/alice", nil, identity.Principal{Key: "session/alice", Kind: identity.KindSession, Partition: "aws", Account: "210987654321", Name: "AWSReservedSSO_ReadOnly_def", Session: "alice"}},
		{"arn:aws:sts::123456789012:assumed-role/awsreservedsso_Engineer_abc/alice", nil, identity.Principal{Key: "arn:aws:iam::123456789012:role/awsreservedsso_engineer_abc", Kind: identity.KindRole, Partition: "aws", Account: "123456789012", Name: "awsreservedsso_Engineer_abc", Session: "alice"}},
		{"arn:aws:sts::123456789012:assumed-role/Engineer/alice", nil, identity.Principal{Key: "arn:aws:iam::123456789012:role/engineer", Kind: identity.KindRole, Partition: "aws", Account: "123456789012", Name: "Engineer", Session: "alice"}},
		{"arn:aws:sts::123456789012:assumed-role/Engineer/alice-2", nil, identity.Principal{Key: "arn:aws:iam::123456789012:role/engineer", Kind: identity.KindRole, Partition: "aws", Account: "123456789012", Name: "Engineer", Session: "alice-2"}},
		{"arn:aws:sts::123456789012:assumed-role/Okta/alice@example.com", []string{"Other", "okta"}, identity.Principal{Key: "session/alice@example.com", Kind: identity.KindSession, Partition: "aws", Account: "123456789012", Name: "Okta", Session: "alice@example.com"}},
		{"arn:aws:sts::123456789012:assumed-role/Okta/alice", []string{"arn:aws:iam::123456789012:role/federation/Okta"}, identity.Principal{Key: "session/alice", Kind: identity.KindSession, Partition: "aws", Account: "123456789012", Name: "Okta", Session: "alice"}},
		{"arn:aws:sts::123456789012:assumed-role/Okta/alice", []string{"arn:aws:iam::999999999999:role/Okta"}, identity.Principal{Key: "arn:aws:iam::123456789012:role/okta", Kind: identity.KindRole, Partition: "aws", Account: "123456789012", Name: "Okta", Session: "alice"}},
		{"arn:aws:sts::123456789012:assumed-role/Okta/alice", []string{"arn:aws-cn:iam::123456789012:role/Okta"}, identity.Principal{Key: "arn:aws:iam::123456789012:role/okta", Kind: identity.KindRole, Partition: "aws", Account: "123456789012", Name: "Okta", Session: "alice"}},

		{"arn:aws:sts::123456789012:federated-user/alice", nil, identity.Principal{}},
		{"arn:aws:iam::123456789012:role/Engineer", nil, identity.Principal{}},
		{"arn:aws:sts::123456789012:assumed-role/Engineer", nil, identity.Principal{}},
		{"arn:aws:sts::123456789012:assumed-role/Engineer/alice/x", nil, identity.Principal{}},
		{"arn:aws:sts::123456789012:assumed-role/Engineer/a", nil, identity.Principal{}},
		{"arn:aws:sts::123456789012:assumed-role/Engi neer/alice", nil, identity.Principal{}},
		{"arn:aws:iam::123456789012:user/", nil, identity.Principal{}},
		{"arn:aws:iam::123456789012:user/a//b", nil, identity.Principal{}},
		{"arn:aws:iam::123456789012:group/admins", nil, identity.Principal{}},
		{"arn:aws:iam::12345678901:user/carol", nil, identity.Principal{}},
		{"arn:aws:iam:us-east-1:123456789012:user/carol", nil, identity.Principal{}},
		{"arn:aws-iso:iam::123456789012:user/carol", nil, identity.Principal{}},
		{"arn:aws:s3:::bucket", nil, identity.Principal{}},
		{"arn:aws:iam::123456789012:user/carol:x", nil, identity.Principal{}},
		{"", nil, identity.Principal{}},
		{"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Engineer_abc/alice", []string{"not a role!"}, identity.Principal{}},
	}
	for _, tc := range cases {
		t.Run(tc.arn, func(t *testing.T) {
			got, err := identity.ParsePrincipal(tc.arn, tc.trusted)
			if tc.want.Key == "" {
				if r := identity.ReasonOf(err); r != identity.ReasonRefused {
					t.Fatalf("ParsePrincipal(%q, %q) = %+v, %v; want reason refused", tc.arn, tc.trusted, got, err)
				}
				return
			}
			tc.want.ARN = tc.arn
			if err != nil || got != tc.want {
				t.Errorf("ParsePrincipal(%q, %q) = %+v, %v;\nwant %+v", tc.arn, tc.trusted, got, err, tc.want)
			}
		})
	}
}

func TestCheckTrustedSessionRoles(t *testing.T) {
	cases := []struct {
		roles []string
		ok    bool
	}{
		{nil, true},
		{[]string{"Okta", "arn:aws:iam::123456789012:role/Okta", "arn:aws-us-gov:iam::123456789012:role/path/to/Okta"}, true},
		{[]string{"Okta", ""}, false},
		{[]string{"Ok ta"}, false},
		{[]string{"arn:aws:iam::123456789012:user/okta"}, false},
		{[]string{"arn:aws:sts::123456789012:assumed-role/Okta/x"}, false},
		{[]string{"arn:aws:iam::123:role/Okta"}, false},
		{[]string{"arn:aws:iam::123456789012:role/"}, false},
		{[]string{"arn:aws:iam::123456789012:role/*"}, false},
	}
	for _, tc := range cases {
		err := identity.CheckTrustedSessionRoles(tc.roles)
		if (err == nil) != tc.ok {
			t.Errorf("CheckTrustedSessionRoles(%q) = %v; want ok = %v", tc.roles, err, tc.ok)
		}
	}
}
