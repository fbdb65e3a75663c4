package broker_test

import (
	"os"
	"testing"

	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// One PostgreSQL cluster and one moto_server for the package. The cluster logs every
// statement with its parameters in full, so tests can search the server log for any
// plaintext password that reached the server.
var (
	cluster *pgtest.Cluster
	moto    struct {
		srv *awstest.Server
		err error
	}
)

func TestMain(m *testing.M) {
	moto.srv, moto.err = awstest.New()
	code := pgtest.Run(m, pgtest.Options{Settings: map[string]string{
		"log_statement":              "all",
		"log_min_duration_statement": "0",
		"log_parameter_max_length":   "-1",
		"log_min_error_statement":    "error",
	}}, func(c *pgtest.Cluster) { cluster = c })
	moto.srv.Close()
	os.Exit(code)
}
