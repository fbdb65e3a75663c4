package audit

import (
	"os"
	"testing"

	"github.com/ffbroker/ffbroker/internal/awstest"
)

// moto is the one moto_server the package's tests share.
var moto awstest.Shared

func TestMain(m *testing.M) { os.Exit(awstest.RunShared(m, &moto, nil)) }
