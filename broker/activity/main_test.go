package activity_test

import (
	"os"
	"testing"

	"github.com/ffbroker/ffbroker/internal/pgtest"
	"github.com/ffbroker/ffbroker/internal/testenv"
)

// One PostgreSQL cluster (log_connections on, Aurora's log_line_prefix: its server log
// is the tests' source of real connection lines) and one moto_server for the package.
var shared testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, pgtest.Options{}, &shared))
}
