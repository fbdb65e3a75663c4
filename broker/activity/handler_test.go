package activity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ffbroker/ffbroker/broker/activity"
)

// The Lambda handler, built from the environment as the function's main builds it,
// runs the scheduled event of events/activity-schedule.json: it logs in as the
// activity monitor (never as FFB_DB_USER, the broker), reads the log group, and
// answers with a dry-run report under the Lambda's request id.
func TestHandlerFromEnv(t *testing.T) {
	e := newEnv(t, "lambda")
	ctx := context.Background()
	srv := shared.Moto(t)
	srv.Setenv(t)
	env := map[string]string{
		"FFB_DB_HOST": shared.Cluster.Host, "FFB_DB_PORT": strconv.Itoa(shared.Cluster.Port), "FFB_DB_NAME": e.DB,
		"FFB_DB_USER": e.Broker, "FFB_DB_AUTH": "password", "FFB_DB_PASSWORD": e.activityPassword, "FFB_DB_SSLMODE": "disable",
		"FFB_ROLE_PREFIX": "lambda", "FFB_ACTIVITY_LOG_GROUP": e.group, "FFB_ACTIVITY_LOCK_DAYS": "30",
		"FFB_ACTIVITY_DROP_DAYS": "60", "FFB_ACTIVITY_LOG_DELAY": "1ms", "FFB_ACTIVITY_EXCLUDE": "a, b",
	}
	var stdout bytes.Buffer
	offset := logSize(t)
	j, err := activity.NewFromEnv(ctx, func(k string) string { return env[k] }, &stdout)
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

func TestOptionsFromEnv(t *testing.T) {
	base := map[string]string{"FFB_ACTIVITY_LOG_GROUP": "/aws/rds/cluster/c/postgresql"}
	o, err := activity.OptionsFromEnv(func(k string) string { return base[k] })
	if err != nil || o.LockAfterDays != 90 || o.DropAfterDays != 180 || o.Apply || o.LogGroup != base["FFB_ACTIVITY_LOG_GROUP"] {
		t.Errorf("defaults = %+v, %v; want 90/180 days, dry run", o, err)
	}
	for _, tc := range []struct{ name, key, value, want string }{
		{"no log group", "FFB_ACTIVITY_LOG_GROUP", "", "FFB_ACTIVITY_LOG_GROUP"},
		{"lock days not a number", "FFB_ACTIVITY_LOCK_DAYS", "ninety", "FFB_ACTIVITY_LOCK_DAYS"},
		{"drop before lock", "FFB_ACTIVITY_DROP_DAYS", "30", "FFB_ACTIVITY_DROP_DAYS"},
		{"apply not a boolean", "FFB_ACTIVITY_APPLY", "yes please", "FFB_ACTIVITY_APPLY"},
		{"name too long", "FFB_ACTIVITY_EXCLUDE", strings.Repeat("x", 64), "FFB_ACTIVITY_EXCLUDE"},
		{"delay not a duration", "FFB_ACTIVITY_LOG_DELAY", "5", "FFB_ACTIVITY_LOG_DELAY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{tc.key: tc.value}
			for k, v := range base {
				if k != tc.key {
					env[k] = v
				}
			}
			if _, err := activity.OptionsFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("OptionsFromEnv(%s=%q) error = %v; want one naming %s", tc.key, tc.value, err, tc.want)
			}
		})
	}
	env := map[string]string{"FFB_ACTIVITY_LOG_GROUP": "g", "FFB_ACTIVITY_APPLY": "true", "FFB_ACTIVITY_EXCLUDE": " a ,b,,",
		"FFB_ACTIVITY_LOCK_DAYS": "0", "FFB_ACTIVITY_DROP_DAYS": "7"}
	o, err = activity.OptionsFromEnv(func(k string) string { return env[k] })
	if err != nil || !o.Apply || strings.Join(o.Exclude, "|") != "a|b" || o.LockAfterDays != 0 || o.DropAfterDays != 7 {
		t.Errorf("OptionsFromEnv = %+v, %v; want apply, exclude a and b, no lock, drop after 7 days", o, err)
	}
}
