package identity

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is the form of identity a Principal stands for.
type Kind string

// Kinds of principal.
const (
	// KindUser is an IAM user; the user is the person.
	KindUser Kind = "user"
	// KindRoot is an account's root user.
	KindRoot Kind = "root"
	// KindRole is an assumed-role session of a role whose session names the
	// caller chooses: all sessions of the role count as one person.
	KindRole Kind = "role"
	// KindSession is an assumed-role session of a role whose session names AWS
	// enforces (IAM Identity Center's AWSReservedSSO_* roles and the trusted
	// session roles): the session name is the person, across roles and accounts.
	KindSession Kind = "session"
)

// ssoRolePrefix starts the names of the roles IAM Identity Center creates for
// permission sets; their session name is the Identity Center user name.
const ssoRolePrefix = "AWSReservedSSO_"

// Principal is who a verified ARN stands for.
type Principal struct {
	// ARN is the verified ARN as STS returned it.
	ARN string
	// Key is the stable, lower-case person key the two-person rule compares:
	// arn:<partition>:iam::<account>:user/<name> for a user (path dropped), the
	// root ARN for root, arn:<partition>:iam::<account>:role/<role> for a role
	// kind, session/<session name> for a session kind.
	Key string
	// Kind is the form of the identity.
	Kind Kind
	// Partition is the ARN's partition: aws, aws-cn or aws-us-gov.
	Partition string
	// Account is the 12-digit account id.
	Account string
	// Name is the user name or the role name; "" for root.
	Name string
	// Session is the role session name; "" for users and root.
	Session string
}

// PersonKeyed reports whether p's key stands for one person: an IAM user, or a
// session of a role whose session names AWS enforces (KindSession). Every session
// of any other role shares the role's key, and so does whoever can assume the role.
func (p Principal) PersonKeyed() bool { return p.Kind == KindUser || p.Kind == KindSession }

// validPartition reports whether s is an ARN partition a principal may be in.
func validPartition(s string) bool {
	switch s {
	case "aws", "aws-cn", "aws-us-gov":
		return true
	}
	return false
}

// ParsePrincipal returns the principal of a verified caller ARN, as
// GetCallerIdentity returns it. trustedSessionRoles are role names or role
// ARNs whose session names AWS enforces, besides AWSReservedSSO_* roles. A
// federated user or any other ARN form is an *Error with ReasonRefused, and so is
// a malformed trusted-session-role entry (see CheckTrustedSessionRoles).
func ParsePrincipal(arn string, trustedSessionRoles []string) (Principal, error) {
	fields := strings.Split(arn, ":")
	if len(fields) != 6 || fields[0] != "arn" || !validPartition(fields[1]) || fields[3] != "" || !validAccount(fields[4]) {
		return Principal{}, refuse(ReasonRefused, "the caller is not an IAM or STS principal ARN")
	}
	p := Principal{ARN: arn, Partition: fields[1], Account: fields[4]}
	service, resource := fields[2], fields[5]
	prefix := "arn:" + p.Partition + ":iam::" + p.Account + ":"
	switch {
	case service == "iam" && resource == "root":
		p.Kind, p.Key = KindRoot, strings.ToLower(prefix+"root")
	case service == "iam" && strings.HasPrefix(resource, "user/"):
		path, name := splitPath(strings.TrimPrefix(resource, "user/"))
		if !validIAMName(name, 1, 64) || !validIAMPath(path) {
			return Principal{}, refuse(ReasonRefused, "the caller's user ARN is malformed")
		}
		p.Kind, p.Name, p.Key = KindUser, name, strings.ToLower(prefix+"user/"+name)
	case service == "sts" && strings.HasPrefix(resource, "assumed-role/"):
		parts := strings.Split(strings.TrimPrefix(resource, "assumed-role/"), "/")
		if len(parts) != 2 || !validIAMName(parts[0], 1, 64) || !validIAMName(parts[1], 2, 64) {
			return Principal{}, refuse(ReasonRefused, "the caller's assumed-role ARN is malformed")
		}
		p.Name, p.Session = parts[0], parts[1]
		trusted, err := sessionTrusted(p, trustedSessionRoles)
		if err != nil {
			return Principal{}, &Error{Reason: ReasonRefused, Message: "the verifier's trusted session roles are misconfigured", Err: err}
		}
		if trusted {
			p.Kind, p.Key = KindSession, "session/"+strings.ToLower(p.Session)
		} else {
			p.Kind, p.Key = KindRole, strings.ToLower(prefix+"role/"+p.Name)
		}
	case service == "sts" && strings.HasPrefix(resource, "federated-user/"):
		return Principal{}, refuse(ReasonRefused, "federated users are not accepted; use a role or an IAM user")
	default:
		return Principal{}, refuse(ReasonRefused, "the caller is neither an IAM user, root nor an assumed role")
	}
	return p, nil
}

// CheckTrustedSessionRoles reports the first entry that is neither a role name
// nor a role ARN (arn:<partition>:iam::<account>:role/[path/]name), so that a
// configuration mistake fails at start rather than at each Verify.
func CheckTrustedSessionRoles(roles []string) error {
	for _, r := range roles {
		if _, err := parseTrustedRole(r); err != nil {
			return err
		}
	}
	return nil
}

// trustedRole is one parsed trusted-session-role entry.
type trustedRole struct {
	partition, account string // "" for a bare role name: any account
	name               string // lower case
}

// parseTrustedRole parses a role name or a role ARN.
func parseTrustedRole(s string) (trustedRole, error) {
	if !strings.HasPrefix(s, "arn:") {
		if !validIAMName(s, 1, 64) {
			return trustedRole{}, fmt.Errorf("identity: trusted session role %q is not a role name or role ARN", s)
		}
		return trustedRole{name: strings.ToLower(s)}, nil
	}
	f := strings.Split(s, ":")
	if len(f) != 6 || !validPartition(f[1]) || f[2] != "iam" || f[3] != "" || !validAccount(f[4]) || !strings.HasPrefix(f[5], "role/") {
		return trustedRole{}, fmt.Errorf("identity: trusted session role %q is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", s)
	}
	path, name := splitPath(strings.TrimPrefix(f[5], "role/"))
	if !validIAMName(name, 1, 64) || !validIAMPath(path) {
		return trustedRole{}, fmt.Errorf("identity: trusted session role %q has a malformed role name", s)
	}
	return trustedRole{partition: f[1], account: f[4], name: strings.ToLower(name)}, nil
}

// sessionTrusted reports whether the session name of assumed-role principal p
// is enforced by AWS: an AWSReservedSSO_ role or one of trusted.
func sessionTrusted(p Principal, trusted []string) (bool, error) {
	var errs []error
	found := strings.HasPrefix(p.Name, ssoRolePrefix)
	for _, s := range trusted {
		r, err := parseTrustedRole(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r.name == strings.ToLower(p.Name) && (r.partition == "" || r.partition == p.Partition && r.account == p.Account) {
			found = true
		}
	}
	if err := errors.Join(errs...); err != nil {
		return false, err // a misconfiguration fails every assumed role, SSO ones too
	}
	return found, nil
}

// splitPath splits "a/b/name" into the path "/a/b/" and "name".
func splitPath(s string) (path, name string) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "/", s
	}
	return "/" + s[:i+1], s[i+1:]
}

// validAccount reports whether s is a 12-digit account id.
func validAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validIAMName reports whether s is min to max characters of IAM's name set
// [A-Za-z0-9+=,.@_-] (user, role and role session names).
func validIAMName(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}

// isNameChar reports whether c is in IAM's name set.
func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+=,.@_-", c) >= 0
}

// validIAMPath reports whether path is "/" or "/seg/.../" of visible ASCII.
func validIAMPath(path string) bool {
	if len(path) > 512 || !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, "/") || strings.Contains(path, "//") {
		return false
	}
	for i := 0; i < len(path); i++ {
		if path[i] <= ' ' || path[i] > '~' {
			return false
		}
	}
	return true
}
