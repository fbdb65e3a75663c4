package main

import (
	"slices"
	"sort"
	"testing"
)

// The command table holds each of ffbroker's eighteen commands, each with a summary,
// a usage and a function to run.
func TestCommandTable(t *testing.T) {
	want := []string{"activity", "approvals", "approve", "bootstrap", "configure", "connect", "deny", "event", "extend",
		"invoke", "issue", "local-api", "request", "requests", "revoke", "status", "sweep", "verify"}
	table := commandTable()
	var got []string
	for name, c := range table {
		got = append(got, name)
		if c.summary == "" || c.usage == "" || c.run == nil {
			t.Errorf("command %s: summary %q, usage %q, run set %v; want all three", name, c.summary, c.usage, c.run != nil)
		}
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("commandTable() names = %v; want %v", got, want)
	}
}
