package secretsmanager_test

import (
	"os"
	"testing"

	"github.com/ffbroker/ffbroker/internal/awstest"
)

// moto is the package's shared moto_server; each test empties it (newFixture).
// The tests of refusals start their own, which checks signatures.
var moto awstest.Shared

func TestMain(m *testing.M) { os.Exit(awstest.RunShared(m, &moto, nil)) }
