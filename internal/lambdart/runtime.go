// Package lambdart is a test harness that speaks the AWS Lambda Runtime API, so tests
// can run a built bootstrap binary the way the Lambda service does: start the process
// with AWS_LAMBDA_RUNTIME_API set, hand it an invocation, read its answer.
package lambdart

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Answer is what the function posted for one invocation.
type Answer struct {
	RequestID string
	// Body is the response, or the error document when Error is set.
	Body  json.RawMessage
	Error bool
	// At is when the answer arrived.
	At time.Time
}

// Server is a Runtime API endpoint that serves queued events, one per invocation.
type Server struct {
	Addr    string
	srv     *http.Server
	events  chan invocation
	answers chan Answer
	mu      sync.Mutex
	initErr json.RawMessage
}

type invocation struct {
	id    string
	event []byte
}

// Start listens on a free loopback port.
func Start() (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: l.Addr().String(), events: make(chan invocation, 16), answers: make(chan Answer, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) { s.answer(w, r, false) })
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) { s.answer(w, r, true) })
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.initErr = b
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(l)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Invoke queues one event; the function receives it on its next poll.
func (s *Server) Invoke(id string, event []byte) { s.events <- invocation{id: id, event: event} }

// Wait returns the next answer, or an error after timeout.
func (s *Server) Wait(timeout time.Duration) (Answer, error) {
	select {
	case a := <-s.answers:
		return a, nil
	case <-time.After(timeout):
		s.mu.Lock()
		defer s.mu.Unlock()
		return Answer{}, fmt.Errorf("lambdart: no answer within %v (init error: %s)", timeout, s.initErr)
	}
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	select {
	case inv := <-s.events:
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:ffbroker-test")
		w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
		w.Header().Set("Content-Type", "application/json")
		w.Write(inv.event)
	case <-r.Context().Done():
	}
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, isErr bool) {
	b, _ := io.ReadAll(r.Body)
	s.answers <- Answer{RequestID: r.PathValue("id"), Body: b, Error: isErr, At: time.Now()}
	w.WriteHeader(http.StatusAccepted)
}

// Process is a running bootstrap binary.
type Process struct {
	Cmd     *exec.Cmd
	Started time.Time
	output  *strings.Builder
}

// Run starts bin as the Lambda service would: AWS_LAMBDA_RUNTIME_API set to s, the
// given environment added to this process's.
func (s *Server) Run(ctx context.Context, bin string, env []string) (*Process, error) {
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(append(os.Environ(), env...), "AWS_LAMBDA_RUNTIME_API="+s.Addr,
		"AWS_LAMBDA_FUNCTION_NAME=ffbroker-test", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_STREAM_NAME=2026/11/21/[$LATEST]test")
	out := &strings.Builder{}
	// One writer for both streams: its lock guards the one builder they share.
	w := &lockedWriter{w: out}
	cmd.Stdout, cmd.Stderr = w, w
	p := &Process{Cmd: cmd, output: out}
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// Stop kills the process and returns what it printed.
func (p *Process) Stop() string {
	p.Cmd.Process.Kill()
	p.Cmd.Wait()
	return p.output.String()
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
