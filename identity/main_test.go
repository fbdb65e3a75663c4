package identity_test

import (
	"os"
	"testing"

	"github.com/ffbroker/ffbroker/internal/awstest"
)

// moto is the package's shared moto_server (no signature checks); the tests
// that need signature checks start their own with awstest.WithAuthAfter.
var moto struct {
	srv *awstest.Server
	err error
}

func TestMain(m *testing.M) {
	moto.srv, moto.err = awstest.New()
	code := m.Run()
	moto.srv.Close()
	os.Exit(code)
}
