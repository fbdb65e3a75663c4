package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

const alice = "arn:aws:iam::123456789012:user/alice"

// brokerStore bootstraps a role model of its own and returns the broker's store on
// it, closed when the test ends.
func brokerStore(t *testing.T, prefix string) (*postgres.Store, pgtest.RoleModel) {
	t.Helper()
	names := shared.Bootstrap(t, pgtest.Vars{Prefix: prefix, DBName: prefix + "-db", Flavor: "aurora"})
	store := postgres.NewStore(shared.Login(t, names.Broker, "broker-"+prefix+"-password-0123456789", names.DB))
	t.Cleanup(func() { store.Close(context.Background()) })
	return store, names
}

// terminate ends every session of role, as a failover or a DBA would.
func terminate(t *testing.T, role, db string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := shared.Cluster.ConnectSuper(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1`, role).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestActivateGrantCommitUncertain: when the connection breaks after publish ran and
// before the commit, ActivateGrant returns the domain's *broker.CommitUncertainError
// (CodeUnavailable), the grant does not exist, and the store reconnects.
func TestActivateGrantCommitUncertain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, names := brokerStore(t, "pgs_commit")
	r := broker.GrantRequest{GrantID: uuid.NewString(), Role: names.FirefighterRO, Hours: 1, IncidentID: "INC-1", Requester: alice, RequesterKey: alice}
	if _, err := store.ReserveGrant(ctx, r); err != nil {
		t.Fatalf("ReserveGrant: %v", err)
	}
	pw, _ := broker.GeneratePassword(nil, 40)
	v, _ := broker.GenerateVerifier(nil, pw)
	published := 0
	_, err := store.ActivateGrant(ctx, r, v, func(context.Context, broker.RoleState) error {
		published++
		if n := terminate(t, names.Broker, names.DB); n != 1 {
			t.Errorf("terminated %d sessions of %s; want the store's one", n, names.Broker)
		}
		return nil
	})
	var uncertain *broker.CommitUncertainError
	if !errors.As(err, &uncertain) || broker.ErrorCode(err) != broker.CodeUnavailable || published == 0 {
		t.Fatalf("ActivateGrant with the connection lost before the commit: error %v, published %d times; want a *broker.CommitUncertainError, code unavailable, after publish", err, published)
	}
	grants, err := store.LiveGrants(ctx)
	if err != nil {
		t.Fatalf("LiveGrants after the lost commit: %v; want the store to reconnect", err)
	}
	for _, g := range grants {
		if g.ID == r.GrantID {
			t.Errorf("LiveGrants holds %s, whose commit was lost", g.ID)
		}
	}
}

// TestActivateGrantPublishFailureRollsBack: publish's own error comes back
// unchanged, the password and the grant are rolled back, and the connection stays.
func TestActivateGrantPublishFailureRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, names := brokerStore(t, "pgs_publish")
	r := broker.GrantRequest{GrantID: uuid.NewString(), Role: names.FirefighterRO, Hours: 1, IncidentID: "INC-2", Requester: alice, RequesterKey: alice}
	if _, err := store.ReserveGrant(ctx, r); err != nil {
		t.Fatalf("ReserveGrant: %v", err)
	}
	pw, _ := broker.GeneratePassword(nil, 40)
	v, _ := broker.GenerateVerifier(nil, pw)
	refused := &broker.Error{Code: broker.CodeAWSAccessDenied, Category: broker.CategoryIAMPolicy, Message: "secrets manager refused"}
	_, err := store.ActivateGrant(ctx, r, v, func(context.Context, broker.RoleState) error { return refused })
	if err != refused {
		t.Fatalf("ActivateGrant with publish failing = %v; want publish's error unchanged", err)
	}
	grants, err := store.LiveGrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		if g.ID == r.GrantID {
			t.Errorf("LiveGrants holds %s, whose publish failed", g.ID)
		}
	}
	if n := terminate(t, names.Broker, names.DB); n != 1 {
		t.Errorf("the broker's login has %d sessions after a failed publish; want the store's one, kept", n)
	}
}
