package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/ffbroker/ffbroker/broker"
)

// openPTY opens a pseudo-terminal pair: what a person types goes into the master,
// the command reads it from the terminal (its stdin).
func openPTY(t *testing.T) (master, term *os.File) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("LOUD: the pseudo-terminal of this test is Linux's /dev/ptmx; %s has none here", runtime.GOOS)
	}
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// typed runs ffbroker with args on a terminal into which answer was typed.
func typed(t *testing.T, answer string, args ...string) (int, string, string) {
	t.Helper()
	master, term := openPTY(t)
	if _, err := master.WriteString(answer); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &cli{stdout: &out, stderr: &errb, stdin: term, getenv: os.Getenv})
	return code, out.String(), errb.String()
}

// On a terminal, approve shows whose request the id is before it approves, and
// approves only on "y": an id pasted from a forged chat message shows what it really
// is. Without a terminal it needs --yes (a usage error says so).
func TestApproveShowsTheRequestAndAsks(t *testing.T) {
	f := setup(t, "confirm")
	f.inRegion(t, "ca-central-1") // its own region: this test starts a workflow
	p := f.requestRW(t, "INC-CONF")
	f.as(t, "bob")
	f.asApprover(t)

	code, out, errOut := ffb(t, "approve", p.RequestID)
	if code != exitUsage || !strings.Contains(errOut, "pass --yes") {
		t.Errorf("approve with stdin not a terminal, no --yes = exit %d\n%s\n%s\nwant exit 2 naming --yes", code, out, errOut)
	}

	code, out, errOut = typed(t, "n\n", "approve", p.RequestID, "--comment", "checked")
	for _, want := range []string{"requester: " + f.users["alice"].ARN, "incident:  INC-CONF", "hours:     1", "reason:    fix one order", "approve it? [y/N]"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("approve on a terminal shows %q; want it to show %q", errOut, want)
		}
	}
	if code != exitFailed || !strings.Contains(errOut, "not approved") {
		t.Errorf("approve answered n = exit %d\n%s\n%s\nwant exit 1, not approved", code, out, errOut)
	}
	if got := f.request(t, p.RequestID); got.state != broker.StatePending || got.decision != "" {
		t.Errorf("ledger after the answer n = %+v; want still pending", got)
	}

	const unknown = "00000000-0000-4000-8000-00000000beef"
	if code, _, errOut := typed(t, "y\n", "approve", unknown); code != exitFailed || !strings.Contains(errOut, "(not_found)") {
		t.Errorf("approve of an id that is not pending = exit %d %s; want exit 1, not_found", code, errOut)
	}

	code, out, errOut = typed(t, "y\n", "approve", p.RequestID, "--comment", "checked")
	if code != exitOK || !strings.Contains(out, "is approved") {
		t.Errorf("approve answered y = exit %d\n%s\n%s\nwant approved", code, out, errOut)
	}
	if got := f.request(t, p.RequestID); got.state != broker.StateApproved || got.approver != f.users["bob"].ARN {
		t.Errorf("ledger after the answer y = %+v; want approved by bob", got)
	}
}
