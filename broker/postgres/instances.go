package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/jackc/pgx/v5"
)

// InstanceLister finds the instances of the cluster (rds.Lister in production,
// rds.Static for a fixed list).
type InstanceLister interface {
	Instances(ctx context.Context) ([]broker.Instance, error)
}

// Instances reaches every instance of the cluster as one login, each at its own
// endpoint, one short connection per instance and call: the broker ends a role's
// sessions there with the read-only db_admin functions (which run on a hot
// standby), the activity job counts live sessions.
type Instances struct {
	list InstanceLister
	conn *Connector
}

var _ broker.Instances = (*Instances)(nil)

// NewInstances returns Instances that list the cluster's instances with list and
// log in to each as c's login (see Connector.ForInstance).
func NewInstances(list InstanceLister, c *Connector) *Instances {
	return &Instances{list: list, conn: c}
}

// Terminate calls db_admin.terminate_firefighter_sessions(role) on every instance,
// then counts the role's sessions left there (db_admin.firefighter_status). It
// returns the sessions ended; an instance that cannot be reached, or where a session
// is left, is an error naming it, after the other instances were done.
func (x *Instances) Terminate(ctx context.Context, role string) (int, error) {
	total := 0
	err := x.each(ctx, "terminate sessions on every instance", func(ctx context.Context, inst broker.Instance, c *pgx.Conn) error {
		var n, left int
		if err := c.QueryRow(ctx, `SELECT db_admin.terminate_firefighter_sessions($1)`, role).Scan(&n); err != nil {
			return err
		}
		total += n
		if err := c.QueryRow(ctx, `SELECT coalesce(sum(sessions), 0)::integer FROM db_admin.firefighter_status() WHERE role = $1`, role).Scan(&left); err != nil {
			return err
		}
		if left > 0 {
			return &broker.Error{Code: broker.CodeUnavailable, Message: fmt.Sprintf("%d sessions of %s survived termination on instance %s; the next sweep tries again", left, role, inst.ID)}
		}
		return nil
	})
	return total, err
}

// LiveSessions counts the sessions of each of roles on every instance (the
// pg_stat_activity rows any login may read) and returns the roles that have one,
// with their count. An instance that cannot be reached is an error: the caller
// must not act on a role it could not check.
func (x *Instances) LiveSessions(ctx context.Context, roles []string) (map[string]int, error) {
	live := map[string]int{}
	if len(roles) == 0 {
		return live, nil
	}
	err := x.each(ctx, "count sessions on every instance", func(ctx context.Context, _ broker.Instance, c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT usename::text, count(*)::integer FROM pg_catalog.pg_stat_activity
			WHERE usename::text = ANY($1) AND pid <> pg_catalog.pg_backend_pid() GROUP BY usename`, roles)
		if err != nil {
			return err
		}
		var role string
		var n int
		_, err = pgx.ForEachRow(rows, []any{&role, &n}, func() error {
			live[role] += n
			return nil
		})
		return err
	})
	return live, err
}

// each runs fn on a new connection to every instance, one after the other, and
// returns their failures together, each naming its instance.
func (x *Instances) each(ctx context.Context, op string, fn func(context.Context, broker.Instance, *pgx.Conn) error) error {
	insts, err := x.list.Instances(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, inst := range insts {
		if err := x.one(ctx, op, inst, fn); err != nil {
			errs = append(errs, err)
		}
	}
	return firstCoded(errs)
}

func (x *Instances) one(ctx context.Context, op string, inst broker.Instance, fn func(context.Context, broker.Instance, *pgx.Conn) error) error {
	c, err := x.conn.ForInstance(inst.Host, inst.Port)
	if err == nil {
		sess := NewSession(c, BrokerFunctions)
		defer sess.Close(context.Background())
		err = sess.Do(ctx, op, func(conn *pgx.Conn) error { return fn(ctx, inst, conn) })
	}
	if err == nil {
		return nil
	}
	return &broker.Error{Code: broker.ErrorCode(err), Category: broker.ErrorCategory(err), Op: op,
		Message: fmt.Sprintf("instance %s (%s): %s", inst.ID, inst.Host, message(err)), Err: err}
}

// message is err's message for callers without its category (the wrapper shows it).
func message(err error) string {
	var e *broker.Error
	if errors.As(err, &e) && e.Code != broker.CodeInternal && e.Message != "" {
		return e.Message
	}
	return "internal error"
}

// firstCoded joins errs under the first one's code, so that callers read one code.
func firstCoded(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return &broker.Error{Code: broker.ErrorCode(errs[0]), Category: broker.ErrorCategory(errs[0]),
		Message: message(errs[0]) + fmt.Sprintf(" (and %d more instances failed)", len(errs)-1), Err: errors.Join(errs...)}
}
