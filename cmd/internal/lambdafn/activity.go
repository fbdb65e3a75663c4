package lambdafn

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
)

// ActivityHandler serves the activity function: the scheduled scan of the cluster's
// connection logs and the inactive-role policy (package activity). It logs in as its
// own role (FFB_ACTIVITY_DB_USER), never as the broker.
type ActivityHandler struct {
	Broker *broker.Broker
	Job    *activity.Job
	// initErr is a configuration error of the job, reported on every scheduled run.
	initErr error
}

// NewActivityHandler builds the activity job from the function's environment.
func NewActivityHandler(d *Deps) *ActivityHandler {
	h := &ActivityHandler{Broker: d.Broker}
	h.Job, h.initErr = activity.NewFromEnvWith(d.getenv, d.AWS, d.stdout)
	return h
}

// Handle answers one event of the activity function.
func (h *ActivityHandler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	if sh, _ := classify(raw); sh != shapeSchedule {
		return nil, unsupported(ctx, h.Broker, "activity")
	}
	if h.initErr != nil {
		return nil, &InternalError{Message: fmt.Sprintf("the activity job is not configured: %v", h.initErr)}
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, unsupported(ctx, h.Broker, "activity")
	}
	rep, err := h.Job.Handler(ctx, ev)
	if err != nil {
		return nil, stepError(err)
	}
	return rep, nil
}
