package identity

import (
	"fmt"
	"strings"
)

// Patterns are the patterns of an allowlist of people (FFB_APPROVERS,
// FFB_REQUESTERS): IAM user, IAM role or assumed-role session ARN patterns in which '*' matches any run of characters
// (slashes included). Matching ignores case, as IAM names do. The zero value
// matches nothing.
type Patterns struct {
	list []string // lower case, validated
}

// ParsePatterns parses comma-separated ARN patterns; blanks around each are
// ignored and "" (or only blanks) is no patterns. Each must be one of
//
//	arn:<partition>:iam::<account>:user/[path/]<name>
//	arn:<partition>:iam::<account>:role/<name>            (no path: assumed-role ARNs do not show it)
//	arn:<partition>:sts::<account>:assumed-role/<role>/<session>
//
// with '*' allowed in the account and after the resource type. The error names
// the first pattern that is not.
func ParsePatterns(s string) (Patterns, error) {
	if strings.TrimSpace(s) == "" {
		return Patterns{}, nil
	}
	var p Patterns
	for i, raw := range strings.Split(s, ",") {
		pat := strings.TrimSpace(raw)
		if err := checkPattern(pat); err != nil {
			return Patterns{}, fmt.Errorf("identity: pattern %d %q: %w", i+1, pat, err)
		}
		p.list = append(p.list, strings.ToLower(pat))
	}
	return p, nil
}

// checkPattern says what is wrong with one pattern, or nil.
func checkPattern(pat string) error {
	if pat == "" {
		return fmt.Errorf("empty (two commas in a row, or a comma at an end)")
	}
	f := strings.Split(pat, ":")
	if len(f) != 6 || f[0] != "arn" {
		return fmt.Errorf("not an ARN (arn:PARTITION:SERVICE::ACCOUNT:RESOURCE)")
	}
	if !validPartition(f[1]) {
		return fmt.Errorf("partition must be aws, aws-cn or aws-us-gov")
	}
	if f[3] != "" {
		return fmt.Errorf("IAM and STS ARNs have no region")
	}
	if !validAccountPattern(f[4]) {
		return fmt.Errorf("account must be 12 digits, or digits and '*'")
	}
	service, resource := f[2], f[5]
	var typ, rest string
	switch {
	case service == "iam" && strings.HasPrefix(resource, "user/"):
		typ, rest = "user", strings.TrimPrefix(resource, "user/")
	case service == "iam" && strings.HasPrefix(resource, "role/"):
		typ, rest = "role", strings.TrimPrefix(resource, "role/")
	case service == "sts" && strings.HasPrefix(resource, "assumed-role/"):
		typ, rest = "assumed-role", strings.TrimPrefix(resource, "assumed-role/")
	default:
		return fmt.Errorf("not a user, role or assumed-role ARN (iam ...:user/NAME, iam ...:role/NAME, sts ...:assumed-role/ROLE/SESSION)")
	}
	if rest == "" {
		return fmt.Errorf("no %s name after %q", typ, typ+"/")
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !isNameChar(c) && c != '*' && c != '/' {
			return fmt.Errorf("%q is not allowed in an IAM name", string(rune(c)))
		}
	}
	if strings.Contains(rest, "//") || strings.HasSuffix(rest, "/") {
		return fmt.Errorf("empty name segment")
	}
	if typ == "role" && strings.Contains(rest, "/") {
		return fmt.Errorf("a role pattern names the role without its path: assumed-role ARNs do not show paths")
	}
	if typ == "assumed-role" && !strings.Contains(rest, "/") && !strings.Contains(rest, "*") {
		return fmt.Errorf("an assumed-role pattern needs ROLE/SESSION")
	}
	return nil
}

// validAccountPattern reports whether s is 12 digits or digits and '*'.
func validAccountPattern(s string) bool {
	if s == "" || len(s) > 12 {
		return false
	}
	star := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '*':
			star = true
		case c < '0' || c > '9':
			return false
		}
	}
	return star || len(s) == 12
}

// Empty reports whether there are no patterns (nobody can match).
func (p Patterns) Empty() bool { return len(p.list) == 0 }

// String returns the patterns, lower-cased, joined by commas.
func (p Patterns) String() string { return strings.Join(p.list, ",") }

// Match reports whether a pattern matches pr. An IAM user matches a pattern of
// its ARN with or without its path; an assumed-role session (a role or session
// kind) matches a pattern of its role ARN, arn:<partition>:iam::<account>:role/<name>,
// or of its session ARN; root matches nothing.
func (p Patterns) Match(pr Principal) bool {
	for _, c := range candidates(pr) {
		c = strings.ToLower(c)
		for _, pat := range p.list {
			if wildcardMatch(pat, c) {
				return true
			}
		}
	}
	return false
}

// candidates returns the ARNs a principal may be matched as.
func candidates(pr Principal) []string {
	prefix := "arn:" + pr.Partition + ":iam::" + pr.Account + ":"
	switch pr.Kind {
	case KindUser:
		return []string{pr.ARN, prefix + "user/" + pr.Name}
	case KindRole, KindSession:
		return []string{prefix + "role/" + pr.Name, "arn:" + pr.Partition + ":sts::" + pr.Account + ":assumed-role/" + pr.Name + "/" + pr.Session}
	}
	return nil
}

// wildcardMatch reports whether s matches pat, where '*' in pat matches any run
// of characters and everything else matches itself.
func wildcardMatch(pat, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pat) && pat[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(pat) && pat[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pat) && pat[pi] == '*' {
		pi++
	}
	return pi == len(pat)
}
