package testenv

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"

	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// Env is a package's shared servers.
type Env struct {
	Cluster *pgtest.Cluster
	moto    awstest.Shared
}

// Moto returns the package's moto_server; it skips t loudly when moto is not
// installed outside CI, and fails it under CI=true (see awstest.Require).
func (e *Env) Moto(t testing.TB) *awstest.Server { t.Helper(); return e.moto.Get(t) }

// Run starts moto_server and a cluster with opts, runs the tests, stops both, and
// returns the exit code for os.Exit. Use it as a package's TestMain:
//
//	var env testenv.Env
//	func TestMain(m *testing.M) { os.Exit(testenv.Run(m, pgtest.Options{}, &env)) }
func Run(m *testing.M, opts pgtest.Options, env *Env) int {
	env.moto.Start(nil)
	defer env.moto.Close()
	return pgtest.Run(m, opts, func(c *pgtest.Cluster) { env.Cluster = c })
}

// Connector is the broker's real Connector logging in to the cluster as user with a
// password (local mode, no TLS), as the broker and the activity job do in tests.
func (e *Env) Connector(t testing.TB, user, password, db string) *postgres.Connector {
	t.Helper()
	c, err := postgres.NewConnector(postgres.Config{Host: e.Cluster.Host, Port: e.Cluster.Port, Database: db, User: user,
		Auth: postgres.AuthPassword, Password: broker.NewPassword(password), SSLMode: postgres.SSLModeDisable}, aws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Bootstrap runs the bootstrap scripts for v (its own prefix and database) in the
// package's cluster and returns the names they create; it fails t on error.
func (e *Env) Bootstrap(t testing.TB, v pgtest.Vars) pgtest.RoleModel {
	t.Helper()
	if out, err := e.Cluster.Bootstrap(context.Background(), v); err != nil {
		t.Fatalf("bootstrap %s: %v\n%s", v.Prefix, err, out)
	}
	return v.Model()
}

// Login sets the password of role, a login of the bootstrap, and returns the
// Connector that logs in as it to db (see Connector).
func (e *Env) Login(t testing.TB, role, password, db string) *postgres.Connector {
	t.Helper()
	if err := e.Cluster.SetPassword(context.Background(), role, password); err != nil {
		t.Fatal(err)
	}
	return e.Connector(t, role, password, db)
}
