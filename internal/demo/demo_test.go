package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs make demo's program as a newcomer would and checks each step's result.
func TestDemo(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", "bin/ffbroker", "./cmd/ffbroker")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the CLI: %v\n%s", err, out)
	}
	cmd := exec.Command("go", "run", "./internal/demo")
	cmd.Dir = root
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("the demo failed: %v\n%s", err, text)
	}
	for _, want := range []string{
		"ffbroker bootstrap complete",
		"access issued: my_pg_firefighter_ro",
		"ORD-1002 | created",
		"permission denied for table orders",
		"waiting for approval by a second person",
		"the approver must not be the requester (forbidden)",
		"approved: arn:aws:states:",
		`"role": "my_pg_firefighter_rw"`,
		"ORD-1002 | cancelled",
		"revoked my_pg_firefighter_ro: 1 grant(s) closed",
		"1 session(s) terminated",
		"the open session was terminated",
		"a new login with the old password is refused",
		"password has expired or was revoked",
		"the read-write session was terminated by the sweep",
		"my_pg_firefighter_rw         no valid password",
		"access.approved      success",
		"sessions.terminated  success",
		"checked: none holds a password or a verifier",
		"DEMO COMPLETE",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}
