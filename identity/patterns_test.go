package identity_test

import (
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/identity"
)

func TestParsePatterns(t *testing.T) {
	ok := []string{
		"",
		"  ",
		"arn:aws:iam::123456789012:user/carol",
		"arn:aws:iam::123456789012:user/eng/*",
		"arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_*, arn:aws:iam::*:role/Approver",
		"arn:aws:sts::123456789012:assumed-role/Engineer/alice",
		"arn:aws:sts::123456789012:assumed-role/*",
		"arn:aws-cn:iam::1234*:user/*",
	}
	for _, s := range ok {
		if _, err := identity.ParsePatterns(s); err != nil {
			t.Errorf("ParsePatterns(%q) error = %v; want nil", s, err)
		}
	}
	bad := []struct{ in, names string }{
		{"*", `"*"`},
		{"arn:aws:iam::123456789012:user/carol,", `pattern 2 ""`},
		{"arn:aws:iam::123456789012:user/carol,,arn:aws:iam::123456789012:user/dave", `pattern 2`},
		{"arn:aws:iam::123456789012:root", `"arn:aws:iam::123456789012:root"`},
		{"arn:aws:iam::123456789012:group/admins", "group"},
		{"arn:aws:iam::123456789012:role/path/Engineer", "role/path/Engineer"},
		{"arn:aws:iam::123456789012:user/", "user/"},
		{"arn:aws:iam::123456789012:user/a b", "a b"},
		{"arn:aws:iam:us-east-1:123456789012:user/carol", "us-east-1"},
		{"arn:*:iam::123456789012:user/carol", "arn:*"},
		{"arn:aws:*::123456789012:user/carol", "arn:aws:*"},
		{"arn:aws:iam::12345:user/carol", "12345"},
		{"arn:aws:iam::abcdefghijkl:user/carol", "abcdefghijkl"},
		{"arn:aws:sts::123456789012:assumed-role/Engineer", "assumed-role/Engineer"},
		{"arn:aws:sts::123456789012:federated-user/alice", "federated-user"},
		{"arn:aws:iam::123456789012:user/carol:x", "carol:x"},
		{"arn:aws:iam::123456789012:user/carol/", "carol/"},
	}
	for _, tc := range bad {
		p, err := identity.ParsePatterns(tc.in)
		if err == nil {
			t.Errorf("ParsePatterns(%q) = %v, nil; want an error", tc.in, p)
			continue
		}
		if !strings.Contains(err.Error(), tc.names) {
			t.Errorf("ParsePatterns(%q) error = %v; want it to name %s", tc.in, err, tc.names)
		}
	}
	if p, _ := identity.ParsePatterns(" "); !p.Empty() {
		t.Errorf("ParsePatterns(blank).Empty() = false; want true")
	}
	if p, _ := identity.ParsePatterns("arn:aws:iam::123456789012:user/carol"); p.Empty() {
		t.Errorf("ParsePatterns(one).Empty() = true; want false")
	}
}

func TestPatternsMatch(t *testing.T) {
	pr := func(arn string, trusted ...string) identity.Principal {
		t.Helper()
		p, err := identity.ParsePrincipal(arn, trusted)
		if err != nil {
			t.Fatalf("ParsePrincipal(%q) error = %v", arn, err)
		}
		return p
	}
	carol := pr("arn:aws:iam::123456789012:user/eng/Carol")
	root := pr("arn:aws:iam::123456789012:root")
	ssoAlice := pr("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Approver_abc/alice")
	engAlice := pr("arn:aws:sts::123456789012:assumed-role/Engineer/alice")
	otherAcct := pr("arn:aws:sts::210987654321:assumed-role/Engineer/alice")
	cases := []struct {
		patterns string
		who      identity.Principal
		want     bool
	}{
		{"", carol, false},
		{"arn:aws:iam::123456789012:user/carol", carol, true},
		{"arn:aws:iam::123456789012:user/eng/carol", carol, true},
		{"arn:aws:iam::123456789012:user/ops/carol", carol, false},
		{"arn:aws:iam::123456789012:user/eng/*", carol, true},
		{"arn:aws:iam::123456789012:user/car", carol, false},
		{"arn:aws:iam::123456789012:user/carol*", carol, true},
		{"arn:aws:iam::210987654321:user/carol", carol, false},
		{"arn:aws-cn:iam::123456789012:user/carol", carol, false},
		{"arn:aws:iam::123456789012:role/carol", carol, false},
		{"arn:aws:iam::123456789012:user/*", root, false},
		{"arn:aws:iam::123456789012:role/AWSReservedSSO_Approver_*", ssoAlice, true},
		{"arn:aws:iam::123456789012:role/awsreservedsso_approver_abc", ssoAlice, true},
		{"arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_*", ssoAlice, false},
		{"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Approver_abc/alice", ssoAlice, true},
		{"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Approver_abc/bob", ssoAlice, false},
		{"arn:aws:iam::123456789012:role/Engineer", engAlice, true},
		{"arn:aws:iam::123456789012:role/Eng", engAlice, false},
		{"arn:aws:iam::*:role/Engineer", otherAcct, true},
		{"arn:aws:iam::123456789012:role/Engineer", otherAcct, false},
		{"arn:aws:iam::123456789012:user/carol, arn:aws:iam::123456789012:role/Engineer", engAlice, true},
		{"arn:aws:iam::123456789012:user/*", engAlice, false},
		{"arn:aws:iam::123456789012:role/*", carol, false},
		{"arn:aws:sts::123456789012:assumed-role/*", engAlice, true},
		{"arn:aws:sts::123456789012:assumed-role/*/alice", carol, false},
	}
	for _, tc := range cases {
		p, err := identity.ParsePatterns(tc.patterns)
		if err != nil {
			t.Fatalf("ParsePatterns(%q) error = %v", tc.patterns, err)
		}
		if got := p.Match(tc.who); got != tc.want {
			t.Errorf("ParsePatterns(%q).Match(%s) = %v; want %v", tc.patterns, tc.who.ARN, got, tc.want)
		}
	}
}
