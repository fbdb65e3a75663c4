package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
)

func init() {
	register("issue", command{
		summary: "ask for firefighter access for an incident (rw waits for a second person's approval)",
		usage: "--role ro|rw --incident ID [--hours 1|2] [--reason TEXT]\n" +
			"example: ffbroker issue --role ro --incident INC-1234 --reason 'checkout latency'\n" +
			"The password is never printed: read it with 'ffbroker connect'.",
		run: runIssue,
	})
	register("revoke", command{
		summary: "take a role back now: expire, end every grant and session, tombstone the secret",
		usage:   "--role ro|rw --incident ID\nexample: ffbroker revoke --role rw --incident INC-1234",
		run:     runRevoke,
	})
	register("status", command{
		summary: "show both firefighter roles: valid until, live grants, sessions",
		usage:   "\nexample: ffbroker status --json",
		run:     runStatus,
	})
	register("approve", command{
		summary: "approve or deny a read-write request waiting in the approval workflow",
		usage: "REQUEST_ID [--deny] [--comment TEXT]\nexample: ffbroker approve 3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b --comment 'matches INC-1234'\n" +
			"Runs as the approve function: FFB_DB_USER must be the approver's login (<prefix>_password_approver).",
		run: runApprove,
	})
	register("sweep", command{
		summary: "expire every role with no live grant left and repair half-done issues (what the schedule runs)",
		usage:   "\nexample: ffbroker sweep",
		run:     runSweep,
	})
}

func runIssue(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("issue")
	role := fs.String("role", "", "ro or rw")
	incident := fs.String("incident", "", "the incident id, e.g. INC-1234")
	hours := fs.Int("hours", 0, "1 or 2 (default 1)")
	reason := fs.String("reason", "", "why, for the audit trail")
	if err := parse(fs, args); err != nil {
		return err
	}
	d, me, done, err := c.caller(ctx, lambdafn.FunctionIssue)
	if err != nil {
		return err
	}
	defer done()
	body, err := json.Marshal(broker.Request{Role: *role, IncidentID: *incident, Hours: *hours, Reason: *reason})
	if err != nil {
		return err
	}
	res, err := d.Broker.Submit(ctx, broker.SubmitInput{Body: body, Caller: me, Source: audit.SourceCLI})
	if err != nil {
		return err
	}
	if pending := res.Pending; pending != nil {
		return c.emit(pending, func(w io.Writer) {
			fmt.Fprintf(w, "waiting for approval by a second person until %s\n  request:  %s\n  workflow: %s\n  approver: ffbroker approve %s\n",
				pending.DecideBy.Local().Format(time.RFC3339), pending.RequestID, pending.ExecutionARN, pending.RequestID)
		})
	}
	out := res.Grant
	return c.emit(out, func(w io.Writer) {
		verb := "issued"
		if out.Reused {
			verb = "already live for this incident (not rotated)"
		}
		fmt.Fprintf(w, "access %s: %s until %s (%s)\n  grant:  %s\n  secret: %s\n  connect: ffbroker connect --role %s\n",
			verb, out.Role, out.ExpiresAt.Local().Format(time.RFC3339), until(out.ExpiresAt), out.GrantID, out.SecretARN, *role)
	})
}

func until(t time.Time) string {
	d := time.Until(t).Round(time.Minute)
	if d <= 0 {
		return "expired"
	}
	return "in " + d.String()
}

func runRevoke(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("revoke")
	role := fs.String("role", "", "ro or rw")
	incident := fs.String("incident", "", "the incident whose grant is live")
	if err := parse(fs, args); err != nil {
		return err
	}
	d, me, done, err := c.caller(ctx, lambdafn.FunctionExpire)
	if err != nil {
		return err
	}
	defer done()
	out, err := d.Broker.Revoke(ctx, broker.RevokeInput{Role: *role, IncidentID: *incident, Caller: me, Source: audit.SourceCLI})
	if err != nil {
		return err
	}
	return c.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "revoked %s: %d grant(s) closed (every grant of the shared role ends), %d session(s) terminated, secret replaced by a tombstone\n",
			out.Role, out.GrantsClosed, out.SessionsTerminated)
	})
}

func runStatus(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("status")
	if err := parse(fs, args); err != nil {
		return err
	}
	d, done, err := c.open(ctx, lambdafn.FunctionIssue)
	if err != nil {
		return err
	}
	defer done()
	out, err := d.Broker.Status(ctx)
	if err != nil {
		return err
	}
	return c.emit(out, func(w io.Writer) {
		for _, r := range out.Roles {
			state := "no valid password"
			if r.Valid && r.ValidUntil != nil {
				state = "valid until " + r.ValidUntil.Local().Format(time.RFC3339) + " (" + until(*r.ValidUntil) + ")"
			} else if r.Valid {
				state = "VALID WITH NO EXPIRY (not set by ffbroker; run 'ffbroker sweep')"
			}
			fmt.Fprintf(w, "%-28s %s, %d session(s)\n", r.Role, state, r.Sessions)
			for _, g := range r.Grants {
				fmt.Fprintf(w, "  grant %s  incident %s  requester %s  approver %s  until %s\n",
					g.GrantID, g.IncidentID, g.Requester, or(g.Approver, "-"), g.ExpiresAt.Local().Format(time.RFC3339))
			}
		}
	})
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func runApprove(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("approve")
	deny := fs.Bool("deny", false, "deny instead of approve")
	comment := fs.String("comment", "", "why, for the audit trail")
	id, args := leadingArg(args)
	if err := parse(fs, args); err != nil {
		return err
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	}
	if id == "" {
		return &usageError{msg: "approve: the request id is required (ffbroker approve REQUEST_ID)"}
	}
	d, me, done, err := c.caller(ctx, lambdafn.FunctionApprove)
	if err != nil {
		return err
	}
	defer done()
	decision := "approve"
	if *deny {
		decision = "deny"
	}
	body, _ := json.Marshal(map[string]string{"decision": decision, "comment": *comment})
	out, err := d.Broker.Decide(ctx, broker.DecideInput{AccessRequestID: id, Body: body, Caller: me, Source: audit.SourceCLI})
	if err != nil {
		return err
	}
	return c.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "%s: request %s is %s\n", out.Decision, out.RequestID, out.State)
	})
}

func runSweep(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("sweep")
	if err := parse(fs, args); err != nil {
		return err
	}
	d, done, err := c.open(ctx, lambdafn.FunctionExpire)
	if err != nil {
		return err
	}
	defer done()
	out, err := d.Broker.Sweep(ctx, "", audit.SourceCLI)
	if err != nil {
		return err
	}
	return c.emit(out, func(w io.Writer) {
		if len(out.Expired)+len(out.Repaired) == 0 {
			fmt.Fprintln(w, "nothing to do: no role is valid without a live grant, nothing half done")
		}
		for _, e := range out.Expired {
			fmt.Fprintf(w, "expired %s: %d grant(s) closed, %d session(s) terminated\n", e.Role, e.GrantsClosed, e.SessionsTerminated)
		}
		for _, r := range out.Repaired {
			fmt.Fprintf(w, "repaired %s\n", r)
		}
	})
}

// leadingArg splits off a first argument that is not a flag.
func leadingArg(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}
