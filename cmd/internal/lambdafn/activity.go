package lambdafn

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
)

// ActivityHandler serves the activity function: the scheduled scan of the cluster's
// connection logs and the inactive-role policy (package activity). It logs in as its
// own role (FFB_ACTIVITY_DB_USER), never as the broker, and holds no broker.
type ActivityHandler struct {
	Job *activity.Job
	// Audit records the events the function refuses.
	Audit audit.Sink
}

// NewActivityHandler returns the activity function's handler; d was built for
// FunctionActivity (Build fails the cold start when the job is misconfigured).
func NewActivityHandler(d *Deps) *ActivityHandler {
	return &ActivityHandler{Job: d.Activity, Audit: d.Audit}
}

// Handle answers one event of the activity function.
func (h *ActivityHandler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	refuse := sinkRejecter{h.Audit}
	if sh, _ := classify(raw); sh != shapeSchedule {
		return nil, unsupported(ctx, refuse, "activity")
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, unsupported(ctx, refuse, "activity")
	}
	rep, err := h.Job.Handler(ctx, ev)
	if err != nil {
		return nil, stepError(err)
	}
	return rep, nil
}

// sinkRejecter records refused events straight to an audit sink, for the function
// that has no broker.
type sinkRejecter struct{ sink audit.Sink }

// Reject writes the request.rejected record of err (best effort, as the broker does)
// and returns err.
func (r sinkRejecter) Reject(ctx context.Context, rec audit.Record, err error) error {
	if werr := r.sink.Write(ctx, broker.RejectedRecord(rec, err)); werr != nil {
		slog.ErrorContext(ctx, "audit record not written", "event", string(audit.EventRequestRejected), "error", werr)
	}
	return err
}
