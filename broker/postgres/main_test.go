package postgres_test

import (
	"os"
	"testing"

	"github.com/ffbroker/ffbroker/internal/pgtest"
	"github.com/ffbroker/ffbroker/internal/testenv"
)

// One PostgreSQL cluster for the package (without TLS); the tests that need TLS
// start their own.
var shared testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, pgtest.Options{}, &shared)) }
