package main

import (
	"context"
	"fmt"
	"io"
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
		usage:   "--token TASK_TOKEN [--deny] [--comment TEXT]\nexample: ffbroker approve --token \"$TOKEN\" --comment 'matches INC-1234'",
		run:     runApprove,
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
	d, me, done, err := c.caller(ctx)
	if err != nil {
		return err
	}
	defer done()
	out, pending, err := lambdafn.NewIssueHandler(d).Submit(ctx, broker.IssueInput{
		Request:   broker.Request{Role: *role, IncidentID: *incident, Hours: *hours, Reason: *reason},
		Requester: me, Source: audit.SourceCLI})
	if err != nil {
		return err
	}
	if pending != nil {
		return c.emit(pending, func(w io.Writer) {
			fmt.Fprintf(w, "waiting for approval by a second person\n  workflow: %s\n", pending.ExecutionARN)
		})
	}
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
	d, me, done, err := c.caller(ctx)
	if err != nil {
		return err
	}
	defer done()
	out, err := d.Broker.Revoke(ctx, broker.RevokeInput{Role: *role, IncidentID: *incident, Requester: me, Source: audit.SourceCLI})
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
	d, done, err := c.open(ctx)
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
	token := fs.String("token", "", "the task token from the approval notification")
	deny := fs.Bool("deny", false, "deny instead of approve")
	comment := fs.String("comment", "", "why, for the audit trail")
	if err := parse(fs, args); err != nil {
		return err
	}
	d, me, done, err := c.caller(ctx)
	if err != nil {
		return err
	}
	defer done()
	decision := "approve"
	if *deny {
		decision = "deny"
	}
	out, err := lambdafn.NewApproveHandler(d).Decide(ctx, me, "", audit.SourceCLI,
		lambdafn.Decision{TaskToken: *token, Decision: decision, Comment: *comment})
	if err != nil {
		return err
	}
	return c.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "%sd: %s\n", out.Decision, out.ExecutionARN)
	})
}

func runSweep(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("sweep")
	if err := parse(fs, args); err != nil {
		return err
	}
	d, done, err := c.open(ctx)
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
