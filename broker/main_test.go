package broker_test

import (
	"os"
	"testing"

	"github.com/ffbroker/ffbroker/internal/pgtest"
	"github.com/ffbroker/ffbroker/internal/testenv"
)

// One PostgreSQL cluster and one moto_server for the package. The cluster logs every
// statement with its parameters in full, so tests can search the server log for any
// plaintext password that reached the server.
var shared testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, pgtest.Options{Settings: map[string]string{
		"log_statement":              "all",
		"log_min_duration_statement": "0",
		"log_parameter_max_length":   "-1",
		"log_min_error_statement":    "error",
	}}, &shared))
}
