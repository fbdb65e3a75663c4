package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/identity"
)

// call is the API call a command stands for: the route with its parameters filled
// (the path the identity proof binds), and which function serves it.
type call struct {
	fn     lambdafn.Function
	method string
	route  string
	query  url.Values
	body   []byte
	// anonymous marks a local call that needs no caller (status, for a DBA).
	anonymous bool
}

// localCall runs a call's use case in-process, as the function would.
type localCall func(ctx context.Context, d *lambdafn.Deps, me broker.Caller) (any, error)

// do runs k through the API in client mode, or its use case in-process in local mode;
// either way out receives the answer as the API's JSON gives it, and the HTTP status
// (local mode: 200, or 202 for a pending request) is returned.
func (c *cli) do(ctx context.Context, k call, out any, local localCall) (int, error) {
	api, err := c.clientMode()
	if err != nil {
		return 0, err
	}
	if api {
		cl, err := c.newAPIClient(ctx)
		if err != nil {
			return 0, err
		}
		c.announce("via the API at " + cl.base.Redacted())
		return cl.do(ctx, k.method, k.route, k.query, k.body, out)
	}
	c.announce("local mode: the functions' code runs in this process against FFB_DB_HOST " + c.env().DBHost)
	var d *lambdafn.Deps
	var me broker.Caller
	var done func()
	if k.anonymous {
		d, done, err = c.open(ctx, k.fn)
	} else {
		d, me, done, err = c.caller(ctx, k.fn, identity.Request{Method: k.method, Path: k.route, Query: k.query, Body: k.body})
	}
	if err != nil {
		return 0, err
	}
	defer done()
	v, err := local(ctx, d, me)
	if err != nil {
		return 0, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	if p, ok := v.(*broker.PendingAnswer); ok && p != nil {
		return 202, json.Unmarshal(b, out)
	}
	return 200, json.Unmarshal(b, out)
}

// announce says once, on stderr and only for people, which mode the command runs in.
func (c *cli) announce(s string) {
	if c.json || c.announced {
		return
	}
	c.announced = true
	fmt.Fprintln(c.stderr, "ffbroker: "+s)
}

func runIssue(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("issue")
	role := fs.String("role", "", "ro or rw")
	incident := fs.String("incident", "", "the incident id, e.g. INC-1234")
	hours := fs.Int("hours", 0, "1 or 2 (default 1)")
	reason := fs.String("reason", "", "why, for the audit trail and the approver")
	wait := fs.Bool("wait", c.terminal(), "follow a read-write request until it is decided (default on a terminal)")
	if err := parse(fs, args); err != nil {
		return err
	}
	body, err := json.Marshal(broker.Request{Role: *role, IncidentID: *incident, Hours: *hours, Reason: *reason})
	if err != nil {
		return err
	}
	var ans json.RawMessage // a grant (201) or a pending request (202)
	status, err := c.do(ctx, call{fn: lambdafn.FunctionIssue, method: "POST", route: "/access", body: body}, &ans,
		func(ctx context.Context, d *lambdafn.Deps, me broker.Caller) (any, error) {
			needs, err := d.Broker.NeedsApproval(ctx, *role)
			if err != nil {
				return nil, err
			}
			if needs {
				if err := requireWorkflow(d); err != nil {
					return nil, err
				}
			}
			res, err := d.Broker.Submit(ctx, broker.SubmitInput{Body: body, Caller: me, Source: audit.SourceCLI})
			if err != nil {
				return nil, err
			}
			if res.Pending != nil {
				return res.Pending, nil
			}
			return res.Grant, nil
		})
	if err != nil {
		return err
	}
	if status != 202 {
		var out broker.IssueOutput
		if err := json.Unmarshal(ans, &out); err != nil {
			return err
		}
		return c.emit(out, func(w io.Writer) { printGrant(w, out, *role) })
	}
	return c.pending(ctx, ans, *wait, "request")
}

// pending handles a 202 answer (a request waiting for a second person; what is
// "request" or "extension request"): with wait it follows the request until it is
// decided, else it prints how to follow it.
func (c *cli) pending(ctx context.Context, ans json.RawMessage, wait bool, what string) error {
	var p broker.PendingAnswer
	if err := json.Unmarshal(ans, &p); err != nil {
		return err
	}
	if !wait {
		return c.emit(p, func(w io.Writer) {
			fmt.Fprintf(w, "the %s waits for a second person's approval until %s\n  request:  %s\n  approver: ffbroker approve %s --comment '...'\n  follow:   ffbroker request %s --wait\n",
				what, p.DecideBy.Local().Format(time.RFC3339), p.RequestID, p.RequestID, p.RequestID)
		})
	}
	if !c.json {
		fmt.Fprintf(c.stderr, "%s %s waits for a second person's approval until %s\n  an approver runs: ffbroker approve %s --comment '...'\n",
			what, p.RequestID, p.DecideBy.Local().Format(time.RFC3339), p.RequestID)
	}
	return c.follow(ctx, p.RequestID)
}

// printGrant prints an issued grant and how to use it.
func printGrant(w io.Writer, out broker.IssueOutput, kind string) {
	verb := "issued"
	if out.Reused {
		verb = "already live for this incident (not rotated)"
	}
	fmt.Fprintf(w, "access %s: %s until %s (%s)\n  grant:   %s\n  connect: ffbroker connect --role %s\n",
		verb, out.Role, out.ExpiresAt.Local().Format(time.RFC3339), until(out.ExpiresAt), out.GrantID, kind)
}

// terminal reports whether stdout is a terminal (a person watching).
func (c *cli) terminal() bool {
	f, ok := c.stdout.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func runRequest(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("request")
	wait := fs.Bool("wait", false, "follow the request until it is issued, denied or timed out")
	id, args := leadingArg(args)
	if err := parse(fs, args); err != nil {
		return err
	}
	if id == "" {
		return &usageError{msg: "the request id is required (ffbroker request REQUEST_ID)"}
	}
	if *wait {
		return c.follow(ctx, id)
	}
	req, err := c.getRequest(ctx, id)
	if err != nil {
		return err
	}
	return c.emit(req, func(w io.Writer) { printRequest(w, req) })
}

// getRequest is GET /requests/{request_id}.
func (c *cli) getRequest(ctx context.Context, id string) (broker.AccessRequest, error) {
	var req broker.AccessRequest
	_, err := c.do(ctx, call{fn: lambdafn.FunctionIssue, method: "GET", route: "/requests/" + url.PathEscape(id)}, &req,
		func(ctx context.Context, d *lambdafn.Deps, me broker.Caller) (any, error) {
			return d.Broker.AccessRequestStatus(ctx, me, id)
		})
	return req, err
}

func printRequest(w io.Writer, r broker.AccessRequest) {
	fmt.Fprintf(w, "request %s (%s): %s\n  role %s, incident %s, %d hour(s), requested by %s %s ago\n  reason: %s\n",
		r.ID, or(r.Kind, broker.KindIssue), r.State, r.Role, r.IncidentID, r.Hours, r.Requester, age(r.CreatedAt), or(r.Reason, "(none)"))
	if r.Decision != "" {
		fmt.Fprintf(w, "  %s by %s: %s\n", r.Decision, r.Approver, or(r.Comment, "(no comment)"))
	}
	if r.State == "pending" {
		fmt.Fprintf(w, "  decide by %s\n", r.DecideBy.Local().Format(time.RFC3339))
	}
	if r.GrantID != "" {
		fmt.Fprintf(w, "  grant %s\n", r.GrantID)
	}
}

// errWaitEnded is a followed request that ended without access.
var errWaitEnded = errors.New("no access")

// follow shows request id's state on stderr until it is issued, denied or timed out,
// then prints the outcome (the request as JSON with --json). Only an issued request
// succeeds.
func (c *cli) follow(ctx context.Context, id string) error {
	interval := 3 * time.Second
	if d := c.env().WaitInterval; d > 0 {
		interval = d
	}
	last := ""
	for {
		req, err := c.getRequest(ctx, id)
		if err != nil {
			return err
		}
		if req.State != last && !c.json {
			fmt.Fprintf(c.stderr, "  %s  %s\n", time.Now().Format("15:04:05"), stateText(req))
		}
		last = req.State
		switch req.State {
		case "issued":
			return c.emit(req, func(w io.Writer) {
				kind := kindOf(req.Role)
				if req.Kind == broker.KindExtend {
					fmt.Fprintf(w, "access extended: %s for incident %s (grant %s, password not rotated), approved by %s\n  status: ffbroker status\n",
						req.Role, req.IncidentID, req.GrantID, req.Approver)
					return
				}
				fmt.Fprintf(w, "access issued: %s for incident %s (grant %s), approved by %s\n  connect: ffbroker connect --role %s\n",
					req.Role, req.IncidentID, req.GrantID, req.Approver, kind)
			})
		case "denied", "expired":
			if req.State == "denied" {
				return fmt.Errorf("request %s was denied by %s: %s: %w", id, req.Approver, or(req.Comment, "(no comment)"), errWaitEnded)
			}
			return fmt.Errorf("request %s timed out: nobody approved it by %s; ask again: %w", id, req.DecideBy.Local().Format(time.RFC3339), errWaitEnded)
		}
		select {
		case <-ctx.Done():
			if !c.json {
				fmt.Fprintf(c.stderr, "stopped following; the request goes on: ffbroker request %s --wait\n", id)
			}
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func stateText(r broker.AccessRequest) string {
	switch r.State {
	case "pending":
		return "pending: waiting for a second person (until " + r.DecideBy.Local().Format("15:04:05") + ")"
	case "approved":
		return "approved by " + r.Approver + ": issuing"
	case "issued":
		return "issued"
	case "denied":
		return "denied by " + r.Approver
	case "expired":
		return "timed out: nobody decided in time"
	}
	return r.State
}

func kindOf(role string) string {
	if strings.HasSuffix(role, "_rw") {
		return "rw"
	}
	return "ro"
}

func until(t time.Time) string {
	d := time.Until(t).Round(time.Minute)
	if d <= 0 {
		return "expired"
	}
	return "in " + d.String()
}

func age(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return d.Round(time.Minute).String()
}

func runRevoke(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("revoke")
	role := fs.String("role", "", "ro or rw")
	incident := fs.String("incident", "", "the incident whose grant is live")
	if err := parse(fs, args); err != nil {
		return err
	}
	var out broker.RevokeOutput
	_, err := c.do(ctx, call{fn: lambdafn.FunctionExpire, method: "DELETE", route: "/access/" + url.PathEscape(*role),
		query: url.Values{"incident_id": {*incident}}}, &out,
		func(ctx context.Context, d *lambdafn.Deps, me broker.Caller) (any, error) {
			return d.Broker.Revoke(ctx, broker.RevokeInput{Role: *role, IncidentID: *incident, Caller: me, Source: audit.SourceCLI})
		})
	if err != nil {
		return err
	}
	return c.emit(out, func(w io.Writer) {
		if out.PasswordRotated {
			fmt.Fprintf(w, "revoked %s for %s: %d grant(s) closed; the role's other live grants keep access with a new password; all %d session(s) of the shared role terminated (their holders reconnect with ffbroker connect)\n",
				out.Role, out.IncidentID, out.GrantsClosed, out.SessionsTerminated)
			return
		}
		fmt.Fprintf(w, "revoked %s for %s: %d grant(s) closed, no live grant left, %d session(s) terminated, secret replaced by a tombstone\n",
			out.Role, out.IncidentID, out.GrantsClosed, out.SessionsTerminated)
	})
}

func runStatus(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("status")
	if err := parse(fs, args); err != nil {
		return err
	}
	var out broker.StatusOutput
	_, err := c.do(ctx, call{fn: lambdafn.FunctionIssue, method: "GET", route: "/access", anonymous: true}, &out,
		func(ctx context.Context, d *lambdafn.Deps, _ broker.Caller) (any, error) { return d.Broker.Status(ctx) })
	if err != nil {
		return err
	}
	return c.emit(out, func(w io.Writer) {
		for _, r := range out.Roles {
			state := "no valid password"
			if r.Valid && r.ValidUntil != nil {
				state = "valid until " + r.ValidUntil.Local().Format(time.RFC3339) + " (" + until(*r.ValidUntil) + ")"
			} else if r.Valid {
				state = "VALID WITH NO EXPIRY (not set by ffbroker; run 'ffbroker --local sweep')"
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

func runRequests(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("requests")
	if err := parse(fs, args); err != nil {
		return err
	}
	var out broker.PendingOutput
	_, err := c.do(ctx, call{fn: lambdafn.FunctionApprove, method: "GET", route: "/approvals"}, &out,
		func(ctx context.Context, d *lambdafn.Deps, me broker.Caller) (any, error) {
			return d.Broker.Pending(ctx, me, "")
		})
	if err != nil {
		return err
	}
	return c.emit(out, func(w io.Writer) {
		if len(out.Requests) == 0 {
			fmt.Fprintln(w, "no pending request you may decide (your own never show: another approver decides them)")
			return
		}
		for _, r := range out.Requests {
			what := kindOf(r.Role)
			if r.Kind == broker.KindExtend {
				what += " extension"
			}
			fmt.Fprintf(w, "%s  %s for %s, %dh, by %s, %s ago (decide by %s)\n  reason: %s\n  ffbroker approve %s --comment '...'   |   ffbroker deny %s --comment '...'\n",
				r.ID, what, r.IncidentID, r.Hours, r.Requester, age(r.CreatedAt), r.DecideBy.Local().Format("15:04"),
				or(r.Reason, "(none)"), r.ID, r.ID)
		}
	})
}

func runDecide(ctx context.Context, c *cli, decision string, args []string) error {
	fs := c.flags(decision)
	comment := fs.String("comment", "", "why, for the audit trail and the requester (required to deny)")
	yes := new(bool)
	if decision == "approve" {
		fs.BoolVar(yes, "yes", false, "approve without showing the request and asking (scripts; needed when stdin is not a terminal)")
	}
	id, args := leadingArg(args)
	if err := parse(fs, args); err != nil {
		return err
	}
	if id == "" {
		return &usageError{msg: fmt.Sprintf("the request id is required (ffbroker %s REQUEST_ID)", decision)}
	}
	if decision == "deny" && strings.TrimSpace(*comment) == "" {
		return &usageError{msg: "deny needs --comment: the requester is told why"}
	}
	if decision == "approve" && !*yes {
		if !c.stdinTerminal() {
			return &usageError{msg: "approve shows the request and asks for confirmation on a terminal; stdin is not one: pass --yes to approve without asking"}
		}
		if err := c.confirmApproval(ctx, id); err != nil {
			return err
		}
	}
	body, _ := json.Marshal(map[string]string{"decision": decision, "comment": *comment})
	var out broker.DecideOutput
	_, err := c.do(ctx, call{fn: lambdafn.FunctionApprove, method: "POST", route: "/approvals/" + url.PathEscape(id), body: body}, &out,
		func(ctx context.Context, d *lambdafn.Deps, me broker.Caller) (any, error) {
			if err := requireWorkflow(d); err != nil {
				return nil, err
			}
			return d.Broker.Decide(ctx, broker.DecideInput{AccessRequestID: id, Body: body, Caller: me, Source: audit.SourceCLI})
		})
	if err != nil {
		return err
	}
	return c.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "%s: request %s is %s\n", out.Decision, out.RequestID, out.State)
		if !out.WorkflowResumed {
			fmt.Fprintln(w, "  the decision is recorded; the workflow takes it as soon as its wait step runs")
		}
	})
}

// confirmApproval shows the pending request id as the approvers' list has it
// (requester, role, incident, hours, reason, age) and asks the person at the terminal
// to confirm: an id pasted from a forged message shows whose request it really is.
func (c *cli) confirmApproval(ctx context.Context, id string) error {
	var out broker.PendingOutput
	_, err := c.do(ctx, call{fn: lambdafn.FunctionApprove, method: "GET", route: "/approvals"}, &out,
		func(ctx context.Context, d *lambdafn.Deps, me broker.Caller) (any, error) {
			return d.Broker.Pending(ctx, me, "")
		})
	if err != nil {
		return err
	}
	i := slices.IndexFunc(out.Requests, func(r broker.AccessRequest) bool { return r.ID == id })
	if i < 0 {
		return broker.Errorf(broker.CodeNotFound, "no pending request %s that you may decide (ffbroker requests lists them; your own never show)", id)
	}
	r := out.Requests[i]
	what := kindOf(r.Role)
	if r.Kind == broker.KindExtend {
		what += " extension"
	}
	fmt.Fprintf(c.stderr, "request %s\n  requester: %s\n  role:      %s (%s)\n  incident:  %s\n  hours:     %d\n  reason:    %s\n  asked:     %s ago\napprove it? [y/N] ",
		r.ID, r.Requester, what, r.Role, r.IncidentID, r.Hours, or(r.Reason, "(none)"), age(r.CreatedAt))
	line, _ := bufio.NewReader(c.stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return errors.New("not approved: you did not answer y; nothing was recorded")
	}
	return nil
}

// stdinTerminal reports whether stdin is a terminal (a person who can answer).
func (c *cli) stdinTerminal() bool {
	f, ok := c.stdin.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
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

// requireWorkflow refuses to go on without the approval workflow: a request that needs
// approval would not start it, and a decision would not resume it.
func requireWorkflow(d *lambdafn.Deps) error {
	if d.Config.StateMachineARN == "" {
		return &configError{err: fmt.Errorf("FFB_STATE_MACHINE_ARN: required (the approval workflow that read-write requests wait in)")}
	}
	return nil
}

// leadingArg splits off a first argument that is not a flag.
func leadingArg(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}
