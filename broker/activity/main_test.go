package activity_test

import (
	"os"
	"testing"

	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// One PostgreSQL cluster (log_connections on, Aurora's log_line_prefix: its server log
// is the tests' source of real connection lines) and one moto_server for the package.
var (
	cluster *pgtest.Cluster
	moto    struct {
		srv *awstest.Server
		err error
	}
)

func TestMain(m *testing.M) {
	moto.srv, moto.err = awstest.New()
	code := pgtest.Run(m, pgtest.Options{}, func(c *pgtest.Cluster) { cluster = c })
	moto.srv.Close()
	os.Exit(code)
}
