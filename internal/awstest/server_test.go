package awstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
)

func TestServer(t *testing.T) {
	s := Start(t)
	ctx := t.Context()
	client := cloudwatchlogs.NewFromConfig(s.Config(ctx))

	groups := func(t *testing.T) int {
		t.Helper()
		out, err := client.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
		if err != nil {
			t.Fatalf("DescribeLogGroups() error = %v", err)
		}
		return len(out.LogGroups)
	}

	t.Run("config reaches the server", func(t *testing.T) {
		if _, err := client.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/awstest/a")}); err != nil {
			t.Fatalf("CreateLogGroup() error = %v", err)
		}
		if got, want := groups(t), 1; got != want {
			t.Errorf("log groups after CreateLogGroup = %d; want %d", got, want)
		}
	})
	t.Run("reset deletes everything", func(t *testing.T) {
		if err := s.Reset(ctx); err != nil {
			t.Fatalf("Reset() error = %v", err)
		}
		if got, want := groups(t), 0; got != want {
			t.Errorf("log groups after Reset = %d; want %d", got, want)
		}
	})
	t.Run("set config", func(t *testing.T) {
		if err := s.SetConfig(ctx, json.RawMessage(`{"batch":{"use_docker":false}}`)); err != nil {
			t.Fatalf("SetConfig() error = %v", err)
		}
		body, err := s.call(ctx, "GET", "/moto-api/config", nil)
		if err != nil {
			t.Fatalf("GET /moto-api/config error = %v", err)
		}
		if got, want := string(body), `"use_docker": false`; !strings.Contains(got, want) {
			t.Errorf("moto config = %s; want it to contain %s", got, want)
		}
	})
	t.Run("set config rejects what json cannot encode", func(t *testing.T) {
		if err := s.SetConfig(ctx, func() {}); err == nil {
			t.Errorf("SetConfig(func) error = nil; want an encoding error")
		}
	})
}

func TestCloseEndsProcess(t *testing.T) {
	s := Start(t)
	pid := s.cmd.Process.Pid
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() error = %v; want nil", err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d after Close: kill(0) error = %v; want ESRCH", pid, err)
	}
	if _, err := os.Stat(s.logPath); !os.IsNotExist(err) {
		t.Errorf("log %s after Close: stat error = %v; want not exist", s.logPath, err)
	}
	if err := s.ping(); err == nil {
		t.Errorf("ping after Close error = nil; want no answer")
	}
}

func TestSetenv(t *testing.T) {
	s := Start(t)
	s.Setenv(t)
	if got, want := os.Getenv("AWS_ENDPOINT_URL"), s.Endpoint; got != want {
		t.Errorf("AWS_ENDPOINT_URL = %q; want %q", got, want)
	}
	if got, want := os.Getenv("AWS_REGION"), Region; got != want {
		t.Errorf("AWS_REGION = %q; want %q", got, want)
	}
}

func TestNewWithoutMoto(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s, err := New()
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("New() without moto_server on PATH error = %v; want ErrNotInstalled", err)
	}
	if s != nil {
		t.Errorf("New() without moto_server = %v; want nil server", s)
	}
	if got, want := err.Error(), "pip install 'moto[server]'"; !strings.Contains(got, want) {
		t.Errorf("New() error = %q; want it to say %q", got, want)
	}
}

func TestStartupFailureShowsOutput(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs a shell script as moto_server")
	}
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'fake moto: address already in use' >&2\nexit 3\n"
	if err := os.WriteFile(filepath.Join(dir, "moto_server"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)

	s, err := New()
	if err == nil {
		s.Close()
		t.Fatalf("New() with a moto_server that exits error = nil; want an error")
	}
	if !errors.Is(err, errExited) {
		t.Errorf("New() error = %v; want errExited", err)
	}
	if got, want := err.Error(), "fake moto: address already in use"; !strings.Contains(got, want) {
		t.Errorf("New() error = %q; want it to contain the server's output %q", got, want)
	}
}

func TestRequire(t *testing.T) {
	running := &Server{Endpoint: "http://127.0.0.1:1"}
	notInstalled := fmt.Errorf("awstest: %w", ErrNotInstalled)
	tests := []struct {
		name string
		ci   string
		srv  *Server
		err  error
		want string // "return", "skip" or "fatal"
	}{
		{name: "server", srv: running, want: "return"},
		{name: "missing locally", err: notInstalled, want: "skip"},
		{name: "missing in CI", ci: "true", err: notInstalled, want: "fatal"},
		{name: "broken", err: errors.New("no answer"), want: "fatal"},
		{name: "nothing", want: "fatal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			rec := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				if Require(rec, tt.srv, tt.err) == tt.srv {
					rec.outcome = "return"
				}
			}()
			<-done
			if got := rec.outcome; got != tt.want {
				t.Errorf("Require(%v, %v) with CI=%q: %s (%s); want %s", tt.srv, tt.err, tt.ci, got, rec.msg, tt.want)
			}
			if tt.want == "skip" && !strings.Contains(rec.msg, "moto_server is not on PATH") {
				t.Errorf("Require skip message = %q; want it to name moto_server", rec.msg)
			}
		})
	}
}

// recorder notes whether Require skipped or failed instead of letting it end the test.
type recorder struct {
	testing.TB
	outcome, msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.outcome, r.msg = "skip", fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.outcome, r.msg = "fatal", fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) {
	r.outcome, r.msg = "fatal", fmt.Sprint(args...)
	runtime.Goexit()
}

func TestWithAuthAfter(t *testing.T) {
	s := Start(t, WithAuthAfter(1))
	ctx := t.Context()
	client := cloudwatchlogs.NewFromConfig(s.Config(ctx))

	if _, err := client.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/awstest/unchecked")}); err != nil {
		t.Fatalf("first CreateLogGroup() error = %v; want nil (not yet checked)", err)
	}
	_, err := client.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/awstest/checked")})
	if err == nil {
		t.Fatalf("second CreateLogGroup() with a key moto's IAM does not know: error = nil; want a refusal")
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
		t.Errorf("second CreateLogGroup() error = %v; want HTTP 403 (unknown access key)", err)
	}
}

// A shared server whose setup failed fails each test that gets it, naming the
// failure; one whose setup ran answers, and Close stops it.
func TestShared(t *testing.T) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		Require(t, nil, fmt.Errorf("awstest: %w (%v)", ErrNotInstalled, err)) // skips loudly, or fails under CI=true
	}
	var broken Shared
	broken.Start(func(*Server) error { return errors.New("setup refused") })
	defer broken.Close()
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); broken.Get(rec) }()
	<-done
	if rec.outcome != "fatal" || !strings.Contains(rec.msg, "setup refused") {
		t.Errorf("Get after a failed setup: %s %q; want a failure naming the setup's error", rec.outcome, rec.msg)
	}

	var ok Shared
	var setupRan bool
	ok.Start(func(s *Server) error { setupRan = s.Endpoint != ""; return nil })
	srv := ok.Get(t)
	if !setupRan {
		t.Error("setup did not run on the started server")
	}
	resp, err := http.Get(srv.Endpoint + "/moto-api/")
	if err != nil {
		t.Fatalf("shared server does not answer: %v", err)
	}
	resp.Body.Close()
	ok.Close()
	if _, err := http.Get(srv.Endpoint + "/moto-api/"); err == nil {
		t.Error("shared server still answers after Close")
	}
}
