package identity_test

import (
	"os"
	"testing"

	"github.com/ffbroker/ffbroker/internal/awstest"
)

// moto is the package's shared moto_server (no signature checks); the tests
// that need signature checks start their own with awstest.WithAuthAfter.
var moto awstest.Shared

func TestMain(m *testing.M) { os.Exit(awstest.RunShared(m, &moto, nil)) }
