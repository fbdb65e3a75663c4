package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs make demo's program as a newcomer would and checks each step's result.
// The demo itself fails unless the ledgers hold what the story says (alice's request
// pending with its task token and no decision after her self-approval, bob's approval
// recorded by the approver's login, the rw grant with alice as requester and bob as
// approver, the notifications in each inbox); this test checks that each step was
// shown, told through the client and local-api.
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
		// The API and the people's clients: AWS keys and the API's address only.
		"local API on http://127.0.0.1:",
		"local-api: created state machine",
		"$ [alice] ffbroker configure --api http://127.0.0.1:",
		"ffbroker: via the API at http://127.0.0.1:",
		"access issued: my_pg_firefighter_ro",
		"ORD-1002 | created",
		"permission denied for table orders",
		// rw: the request ledger, the workflow's wait step, the two-person rule.
		"$ [alice] ffbroker issue --role rw --incident INC-4242 --reason 'cancel the stuck order ORD-1002' --wait &",
		"pending, requester arn:aws:iam::123456789012:user/alice, task token stored: true, decisions: 0",
		"approvers' inbox: \"Firefighter rw access for INC-4242 waits for your approval\"",
		"the approver must not be the requester (forbidden)",
		"$ [bob] ffbroker requests",
		"reason: cancel the stuck order ORD-1002",
		"$ [bob] ffbroker approve ",
		"access issued: my_pg_firefighter_rw for incident INC-4242",
		"approval ledger: approve by arn:aws:iam::123456789012:user/bob (recorded by my_pg_password_approver); request issued",
		"grant ledger: my_pg_firefighter_rw for requester arn:aws:iam::123456789012:user/alice, approver arn:aws:iam::123456789012:user/bob; request issued",
		"alice's inbox: \"Your firefighter rw access for INC-4242 was approved\"",
		"alice's inbox: \"Your firefighter rw access for INC-4242 is issued\"",
		"ORD-1002 | cancelled",
		"extended my_pg_firefighter_ro: until",
		"password not rotated",
		"(invalid_hours)",
		"requester arn:aws:iam::123456789012:user/alice  approver arn:aws:iam::123456789012:user/bob",
		"revoked my_pg_firefighter_ro for INC-4242: 1 grant(s) closed, no live grant left",
		"1 session(s) terminated",
		"the open session was terminated",
		"a new login with the old password is refused",
		"password has expired or was revoked",
		"the read-write session was terminated by the sweep",
		"my_pg_firefighter_rw         no valid password",
		"access.requested     pending  my_pg_firefighter_rw",
		"approver=arn:aws:iam::123456789012:user/alice error_code=forbidden",
		"access.approved      success  my_pg_firefighter_rw",
		"password.issued      success  my_pg_firefighter_rw",
		"access.extended      success  my_pg_firefighter_ro",
		"sessions.terminated  success",
		"checked: none holds a password, a verifier or a task token",
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
