package main

import (
	"context"
	"fmt"
	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"io"
	"os"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker/activity"
)

func runActivity(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		c.flags("activity").Usage()
		if len(args) == 0 {
			return &usageError{msg: "name a subcommand: report, run, apply or unlock"}
		}
		return nil
	}
	sub := args[0]
	fs := c.flags("activity")
	role := fs.String("role", "", "the role to unlock")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if sub != "report" && sub != "run" && sub != "apply" && sub != "unlock" {
		return &usageError{msg: fmt.Sprintf("unknown subcommand %q: want report, run, apply or unlock", sub)}
	}
	if sub == "unlock" && *role == "" {
		return &usageError{msg: "--role is required"}
	}
	jc, err := config.ActivityJob(c.getenv)
	if err != nil {
		return &configError{err: err}
	}
	opts := jc.Options
	opts.Source = audit.SourceCLI
	job, err := activity.NewJob(ctx, jc, auditOut(c))
	if err != nil {
		return &configError{err: err}
	}
	if sub == "unlock" {
		res, err := job.Unlock(ctx, activity.UnlockInput{Role: *role, Source: audit.SourceCLI})
		if err != nil {
			return err
		}
		return c.emit(res, func(w io.Writer) {
			fmt.Fprintf(w, "unlocked %s: connection limit %d restored\n", res.Role, res.ConnectionLimit)
		})
	}
	var rep activity.Report
	switch sub {
	case "report":
		rep, err = job.Report(ctx, opts)
	case "run":
		rep, err = job.Run(ctx, opts)
	case "apply":
		rep, err = job.Apply(ctx, opts)
	}
	if err != nil {
		return err
	}
	return c.emit(rep, func(w io.Writer) { printActivity(w, rep) })
}

func auditOut(c *cli) io.Writer {
	if c.env().AuditQuiet {
		return io.Discard
	}
	return os.Stderr
}

func printActivity(w io.Writer, rep activity.Report) {
	if rep.Logs != nil {
		fmt.Fprintf(w, "log group %s: %d page(s), checkpoint %s\n", rep.Logs.Group, rep.Logs.Pages, rep.Logs.Checkpoint.Format("2006-01-02T15:04:05Z07:00"))
	}
	p := rep.Policy
	if p == nil {
		return
	}
	mode := "dry run: nothing changed"
	if p.Applied {
		mode = "applied"
	}
	fmt.Fprintf(w, "policy: lock after %d days, drop after %d days (%s)\n", p.LockAfterDays, p.DropAfterDays, mode)
	if p.Skipped != "" {
		fmt.Fprintf(w, "policy skipped: %s\n", p.Skipped)
	}
	for _, n := range p.UnmatchedExclude {
		fmt.Fprintf(w, "warning: exclude list entry %q names no login role (names are case-sensitive)\n", n)
	}
	for _, r := range p.Roles {
		fmt.Fprintf(w, "  %-32s %-16s inactive %5.1f days  %s\n", r.Role, r.Action, r.InactiveDays, r.Result)
	}
}
