package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
)

func runExtend(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("extend")
	role := fs.String("role", "", "ro or rw")
	incident := fs.String("incident", "", "the incident whose live grant to extend")
	hours := fs.Int("hours", 0, "1 or 2 (default 1): the grant then ends that long from now")
	reason := fs.String("reason", "", "why, for the audit trail and the approver")
	wait := fs.Bool("wait", c.terminal(), "follow a read-write extension until it is decided (default on a terminal)")
	if err := parse(fs, args); err != nil {
		return err
	}
	body, err := json.Marshal(struct {
		IncidentID string `json:"incident_id"`
		Hours      int    `json:"hours,omitempty"`
		Reason     string `json:"reason,omitempty"`
	}{*incident, *hours, *reason})
	if err != nil {
		return err
	}
	route := "/access/" + url.PathEscape(*role) + "/extend"
	var ans json.RawMessage
	status, err := c.do(ctx, call{fn: lambdafn.FunctionIssue, method: "POST", route: route, body: body}, &ans,
		func(ctx context.Context, d *lambdafn.Deps, me broker.Caller) (any, error) {
			out, err := d.Broker.Extend(ctx, broker.ExtendInput{Role: *role, Body: body, Path: route, Caller: me, Source: audit.SourceCLI})
			switch {
			case err != nil:
				return nil, err
			case out.Pending != nil:
				return out.Pending, nil
			}
			return out.Grant, nil
		})
	if err != nil {
		return err
	}
	if status != 202 {
		var g broker.IssueOutput
		if err := json.Unmarshal(ans, &g); err != nil {
			return err
		}
		return c.emit(g, func(w io.Writer) {
			from := "-"
			if g.PreviousExpiresAt != nil {
				from = g.PreviousExpiresAt.Local().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "extended %s: until %s (%s), was %s; password not rotated\n  grant: %s\n",
				g.Role, g.ExpiresAt.Local().Format(time.RFC3339), until(g.ExpiresAt), from, g.GrantID)
		})
	}
	return c.pending(ctx, ans, *wait, "extension request")
}
