package activity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
	"github.com/ffbroker/ffbroker/broker/postgres"
)

// The Lambda handler, built from its JobConfig as the function's main builds it,
// runs the scheduled event of events/activity-schedule.json: it logs in as the
// activity monitor (never as FFB_DB_USER, the broker), reads the log group, and
// answers with a dry-run report under the Lambda's request id.
func TestHandlerFromEnv(t *testing.T) {
	e := newEnv(t, "lambda")
	ctx := context.Background()
	srv := shared.Moto(t)
	srv.Setenv(t)
	jc := activity.JobConfig{
		Options: activity.Options{LogGroup: e.group, LockAfterDays: 30, DropAfterDays: 60, LogDelay: time.Millisecond,
			Exclude: []string{"a", "b"}, Source: audit.SourceSchedule},
		DB: postgres.Config{Host: shared.Cluster.Host, Port: shared.Cluster.Port, Database: e.DB, User: e.Activity,
			Auth: postgres.AuthPassword, Password: broker.NewPassword(e.activityPassword), SSLMode: postgres.SSLModeDisable,
			ApplicationName: "ffbroker-activity"},
	}
	var stdout bytes.Buffer
	offset := logSize(t)
	j, err := activity.NewJob(ctx, jc, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Report(ctx, activity.Options{LockAfterDays: 30, DropAfterDays: 60}); err != nil { // logs in
		t.Fatal(err)
	}
	waitLog(t, offset, "user="+e.Activity+" database=")
	e.put(t, "lambda-1", serverLog(t, offset))

	raw, err := os.ReadFile("../../events/activity-schedule.json")
	if err != nil {
		t.Fatalf("read events/activity-schedule.json: %v", err)
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	lctx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"})
	rep, err := j.Handler(lctx, ev)
	if err != nil {
		t.Fatalf("Handler: %v", err)
	}
	if rep.RequestID != "lambda-req-1" || !rep.DryRun || rep.Logs == nil || !rep.Logs.CaughtUp || rep.Logs.Authorized == 0 ||
		rep.Policy == nil || rep.Policy.Skipped != "" || rep.Policy.LockAfterDays != 30 || rep.Policy.DropAfterDays != 60 {
		t.Errorf("Handler report = %+v %+v %+v; want a dry run under lambda-req-1 that read the log and planned with 30/60 days", rep, rep.Logs, rep.Policy)
	}
	if r, ok := rep.Policy.Role(e.Activity); !ok || r.LastLogLogin.IsZero() {
		t.Errorf("the activity monitor's own login = %+v; want it read from the log (it logged in as itself)", r)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatalf("the report does not encode as JSON: %v", err)
	}
	var wire struct {
		RequestID string `json:"request_id"`
		DryRun    bool   `json:"dry_run"`
		Logs      struct {
			Authorized int `json:"authorized"`
		} `json:"logs"`
	}
	if err := json.Unmarshal(b, &wire); err != nil || wire.RequestID != "lambda-req-1" || !wire.DryRun || wire.Logs.Authorized != rep.Logs.Authorized {
		t.Errorf("the report on the wire = %s (%v); want request_id, dry_run and logs.authorized as in %+v", b, err, rep)
	}
}
