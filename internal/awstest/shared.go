package awstest

import "testing"

// Shared is the one moto_server the tests of a package share. Its TestMain calls
// Start before m.Run and Close after it; each test calls Get. A test that needs a
// server of its own (signature checks, a clean Step Functions) calls Start (the
// function) instead.
type Shared struct {
	srv *Server
	err error
}

// Start starts the shared server with opts, then runs setup on it when setup is
// not nil. A failure is kept for Get to report in each test.
func (s *Shared) Start(setup func(*Server) error, opts ...Option) {
	s.srv, s.err = New(opts...)
	if s.err == nil && setup != nil {
		s.err = setup(s.srv)
	}
}

// Close stops the shared server.
func (s *Shared) Close() { s.srv.Close() }

// Get returns the shared server, or skips or fails t as Require does.
func (s *Shared) Get(t testing.TB) *Server {
	t.Helper()
	return Require(t, s.srv, s.err)
}

// RunShared starts s (see Shared.Start), runs the package's tests and stops s; it
// returns the exit code for os.Exit:
//
//	var moto awstest.Shared
//	func TestMain(m *testing.M) { os.Exit(awstest.RunShared(m, &moto, nil)) }
func RunShared(m *testing.M, s *Shared, setup func(*Server) error, opts ...Option) int {
	s.Start(setup, opts...)
	defer s.Close()
	return m.Run()
}
