package sqlscripts

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// bootstrap.sql includes every numbered script once, in the order of their names; each
// sets search_path to pg_catalog, pg_temp before its first statement, and none is over
// 500 lines (one file per concern, short enough to review).
func TestScriptsAreIncludedInOrderAndPinTheirSearchPath(t *testing.T) {
	numbered, err := fs.Glob(scripts, "[0-9][0-9][0-9]_*.sql")
	if err != nil || len(numbered) < 10 {
		t.Fatalf("numbered scripts = %v, %v; want the role model's files", numbered, err)
	}
	b, err := fs.ReadFile(scripts, "bootstrap.sql")
	if err != nil {
		t.Fatal(err)
	}
	var included []string
	for _, m := range regexp.MustCompile(`(?m)^\\ir (\S+)$`).FindAllStringSubmatch(string(b), -1) {
		if m[1] != "000_preflight.sql" || !slices.Contains(included, m[1]) { // preflight runs again after \connect
			included = append(included, m[1])
		}
	}
	if !slices.Equal(included, numbered) {
		t.Errorf("bootstrap.sql includes\n%q\nwant every numbered script once, in name order:\n%q", included, numbered)
	}
	for _, f := range append(numbered, "bootstrap.sql") {
		b, err := fs.ReadFile(scripts, f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines) > 500 {
			t.Errorf("%s has %d lines; want at most 500", f, len(lines))
		}
		for _, l := range lines {
			if l == "" || strings.HasPrefix(l, "--") || strings.HasPrefix(l, `\set`) {
				continue
			}
			if !strings.HasPrefix(l, "SET search_path = pg_catalog, pg_temp;") {
				t.Errorf("%s: first statement %q; want SET search_path = pg_catalog, pg_temp", f, l)
			}
			break
		}
	}
}
