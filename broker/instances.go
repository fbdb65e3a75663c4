package broker

import "context"

// Instance is one database instance of the cluster, reached at its own endpoint
// (on Aurora, the writer and each reader).
type Instance struct {
	// ID names the instance in errors and logs (the DB instance identifier).
	ID string
	// Host and Port are its endpoint; Host is also the name its certificate must hold.
	Host string
	Port int
}

// Instances ends a firefighter role's sessions on every instance of the cluster
// (postgres.Instances in production): a role is cluster-wide and its password
// logs in on every instance, while the database functions see only the sessions
// of the instance they run on.
type Instances interface {
	// Terminate ends role's sessions on every instance and returns how many it
	// ended; an instance that cannot be reached, or where a session survived, is
	// an error (the next sweep tries again).
	Terminate(ctx context.Context, role string) (int, error)
}

// terminateEverywhere ends role's sessions on every instance of the cluster while
// the role's lock is held and no grant of the role is live, so that a grant issued
// meanwhile keeps its sessions; evenIfLive ends them anyway (a rotation for the grants
// left: a shared role's sessions cannot be told apart). It returns how many it ended;
// without Instances, none (a single instance: the database functions did it).
func (b *Broker) terminateEverywhere(ctx context.Context, role string, evenIfLive bool) (int, error) {
	if b.cfg.Instances == nil {
		return 0, nil
	}
	n := 0
	err := b.cfg.DB.WithRoleLock(ctx, role, func(ctx context.Context, st RoleState) error {
		if len(st.Live) > 0 && !evenIfLive {
			return nil
		}
		var err error
		n, err = b.cfg.Instances.Terminate(ctx, role)
		return err
	})
	return n, err
}
