package lambdafn

import (
	"context"
	"encoding/json"

	"github.com/ffbroker/ffbroker/broker"
)

// ActivityHandler serves the activity function (the scheduled login-activity scan).
type ActivityHandler struct {
	Broker *broker.Broker
}

// NewActivityHandler returns the activity function's handler.
func NewActivityHandler(d *Deps) *ActivityHandler { return &ActivityHandler{Broker: d.Broker} }

// Handle answers one event of the activity function.
func (h *ActivityHandler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	if sh, _ := classify(raw); sh != shapeSchedule {
		return nil, unsupported(ctx, h.Broker, "activity")
	}
	return nil, &InternalError{Message: "the activity scan is not enabled in this build"}
}
