package audit

import (
	"os"
	"testing"

	"github.com/ffbroker/ffbroker/internal/awstest"
)

// moto is the one moto_server the package's tests share; see awstest.Require.
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
