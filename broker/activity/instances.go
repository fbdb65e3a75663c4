package activity

import "context"

// Sessions counts live sessions on every instance of the cluster
// (postgres.Instances): the database's own check before a lock or drop sees only the
// instance it runs on, while a role logs in on every Aurora reader too.
type Sessions interface {
	// LiveSessions returns, of roles, those with a session on some instance and
	// how many; an instance that cannot be checked is an error.
	LiveSessions(ctx context.Context, roles []string) (map[string]int, error)
}

// reasonLiveElsewhere explains a verdict blocked by a session on another instance.
const reasonLiveElsewhere = "the role has a live session on an instance of the cluster"

// checkInstances turns every lock, drop or mark of the plan whose role has a session
// on some instance into live_session. Without Sessions the plan is unchanged; when
// an instance cannot be checked the run acts on nobody (the error).
func (j *Job) checkInstances(ctx context.Context, plan []RolePlan) ([]RolePlan, error) {
	if j.sessions == nil {
		return plan, nil
	}
	var roles []string
	for _, p := range plan {
		if p.Action.todo() {
			roles = append(roles, p.Role)
		}
	}
	if len(roles) == 0 {
		return plan, nil
	}
	live, err := j.sessions.LiveSessions(ctx, roles)
	if err != nil {
		return nil, err
	}
	for i := range plan {
		if plan[i].Action.todo() && live[plan[i].Role] > 0 {
			plan[i].Intended, plan[i].Action, plan[i].Reason = plan[i].Action, ActionLiveSession, reasonLiveElsewhere
		}
	}
	return plan, nil
}
