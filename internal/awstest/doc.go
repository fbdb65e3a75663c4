// Package awstest runs a real moto_server (Python moto 5) for tests that call AWS
// APIs, on a free port on 127.0.0.1, and hands out SDK configuration that reaches it.
//
// One test starts its own server with [Start]; a package shares one server for all
// its tests by calling [New] in TestMain and [Require] in each test:
//
//	var moto struct {
//		srv *awstest.Server
//		err error
//	}
//
//	func TestMain(m *testing.M) {
//		moto.srv, moto.err = awstest.New()
//		code := m.Run()
//		moto.srv.Close()
//		os.Exit(code)
//	}
//
//	func TestSomething(t *testing.T) {
//		srv := awstest.Require(t, moto.srv, moto.err)
//		client := cloudwatchlogs.NewFromConfig(srv.Config(t.Context()))
//		...
//	}
//
// When moto_server is not on PATH, tests are skipped with a loud message, except when
// the environment variable CI is "true": then they fail. Install moto with
// pip install 'moto[server]'.
//
// By default moto accepts any credentials and signature. [WithAuthAfter] starts a
// server that checks SigV4 signatures and IAM policies after the first n calls.
//
// The server runs in its own process group, which Close kills as a whole. The child is
// also killed by the kernel when the test binary dies (panic, timeout, os.Exit), so a
// failing test never leaves a moto_server behind.
package awstest
