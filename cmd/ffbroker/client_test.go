package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/ffbroker/ffbroker/internal/awstest"
)

// env is a command's whole environment: nothing of the test process leaks in.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// with returns a copy of e with kv (pairs) set.
func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// clientRun runs the CLI in-process with exactly the environment e.
func clientRun(t *testing.T, e env, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &cli{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), getenv: e.get})
	return code, out.String(), errb.String()
}

// baseEnv is a client's environment with no configuration but a home of its own and
// no AWS files: the SDK sees only what a test sets.
func baseEnv(t *testing.T) env {
	home := t.TempDir()
	return env{"HOME": home, "AWS_CONFIG_FILE": filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": awstest.Region}
}

func TestSplitGlobals(t *testing.T) {
	tests := []struct {
		args []string
		want globals
		rest []string
		err  string
	}{
		{[]string{"status", "--json"}, globals{json: true}, []string{"status"}, ""},
		{[]string{"--json", "status"}, globals{json: true}, []string{"status"}, ""},
		{[]string{"issue", "--role", "ro", "--profile", "oncall", "--region=eu-west-1"}, globals{profile: "oncall", region: "eu-west-1"},
			[]string{"issue", "--role", "ro"}, ""},
		{[]string{"-api", "https://x.execute-api.eu-west-1.amazonaws.com/prod", "requests"}, globals{api: "https://x.execute-api.eu-west-1.amazonaws.com/prod"},
			[]string{"requests"}, ""},
		{[]string{"--local", "sweep"}, globals{local: true}, []string{"sweep"}, ""},
		{[]string{"--version"}, globals{version: true}, []string{}, ""},
		{[]string{"connect", "--role", "ro", "--", "--json", "--profile", "x"}, globals{}, []string{"connect", "--role", "ro", "--", "--json", "--profile", "x"}, ""},
		{[]string{"status", "--profile"}, globals{}, nil, "flag --profile needs a value"},
		{[]string{"status", "--region="}, globals{}, nil, "flag --region needs a value"},
		{[]string{"status", "--json=false"}, globals{}, []string{"status", "--json=false"}, ""},
	}
	for _, tc := range tests {
		g, rest, err := splitGlobals(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("splitGlobals(%q) error = %v; want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || g != tc.want || !reflect.DeepEqual(rest, tc.rest) {
			t.Errorf("splitGlobals(%q) = %+v, %q, %v; want %+v, %q", tc.args, g, rest, err, tc.want, tc.rest)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	e := baseEnv(t)
	code, out, errOut := clientRun(t, e, "status", "--version")
	if code != exitOK || !strings.HasPrefix(out, "ffbroker ") || errOut != "" {
		t.Errorf("--version = %d %q %q; want the version on stdout", code, out, errOut)
	}
	code, out, errOut = clientRun(t, e, "extend", "--help")
	if code != exitOK || !strings.Contains(out, "usage: ffbroker extend") || !strings.Contains(out, "global flags") || errOut != "" {
		t.Errorf("extend --help = %d\nstdout %q\nstderr %q; want the help on stdout", code, out, errOut)
	}
}

// TestClientConfiguration: which mode a command runs in, and what it says when it
// has neither an API nor a database; configure writes a private file the next
// command reads.
func TestClientConfiguration(t *testing.T) {
	e := baseEnv(t)
	code, _, errOut := clientRun(t, e, "status")
	if code != exitConfig || !strings.Contains(errOut, "no ffbroker API configured: run 'ffbroker configure --stack STACK'") {
		t.Errorf("status with nothing configured = %d %q; want exit 3 saying how to configure", code, errOut)
	}
	code, _, errOut = clientRun(t, e, "status", "--api", "https://abc.execute-api.eu-west-1.amazonaws.com/prod")
	if code != exitConfig || !strings.Contains(errOut, "server id is not configured") {
		t.Errorf("status with an API but no server id = %d %q; want exit 3", code, errOut)
	}
	code, _, errOut = clientRun(t, e, "status", "--api", "http://api.example.com/prod", "--json")
	if code != exitConfig || !strings.Contains(errOut, `"code":"configuration"`) || !strings.Contains(errOut, "plain http to a remote host") {
		t.Errorf("status over plain http = %d %q; want exit 3", code, errOut)
	}
	code, _, errOut = clientRun(t, e, "configure", "--api", "https://abc.execute-api.eu-west-1.amazonaws.com/prod")
	if code != exitUsage || !strings.Contains(errOut, "--server-id") {
		t.Errorf("configure without a server id = %d %q; want a usage error", code, errOut)
	}
	code, out, errOut := clientRun(t, e, "configure", "--api", "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
		"--server-id", "arn:aws:cloudformation:eu-west-1:123456789012:stack/ffbroker/1", "--json")
	if code != exitOK {
		t.Fatalf("configure = %d %q %q", code, out, errOut)
	}
	var saved clientConfig
	if err := json.Unmarshal([]byte(out), &saved); err != nil || saved.ServerID == "" {
		t.Fatalf("configure --json = %q (%v)", out, err)
	}
	p := filepath.Join(e["HOME"], ".config", "ffbroker", "config.json")
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file %s: %v, mode %v; want 0600", p, err, fi.Mode())
	}
	// A configuration file others may write is refused: it says where proofs go.
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = clientRun(t, e, "status")
	if code != exitConfig || !strings.Contains(errOut, "is writable by others") {
		t.Errorf("status with a world-writable config = %d %q; want exit 3", code, errOut)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	// ... and so is one in a directory others may write: they could replace the file.
	dir := filepath.Dir(p)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = clientRun(t, e, "status")
	if code != exitConfig || !strings.Contains(errOut, "the directory "+dir+" of "+p+" is writable by others") {
		t.Errorf("status with the config in a world-writable directory = %d %q; want exit 3", code, errOut)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// ... and one another user owns (root can give it away; elsewhere nobody can).
	if os.Geteuid() == 0 {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		code, _, errOut = clientRun(t, e, "status")
		if code != exitConfig || !strings.Contains(errOut, p+" belongs to another user (uid 65534)") {
			t.Errorf("status with a config file of uid 65534 = %d %q; want exit 3", code, errOut)
		}
		if err := os.Chown(p, 0, 0); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Log("LOUD: not root, so the config file cannot be given to another user; its owner check is not exercised")
	}
	// Configured, but no credentials at all: a configuration error that says what to do.
	code, _, errOut = clientRun(t, e, "status")
	if code != exitConfig || !strings.Contains(errOut, "no usable AWS credentials") {
		t.Errorf("status without credentials = %d %q; want exit 3", code, errOut)
	}
}

// TestConfigureFromStack reads a stack's outputs from CloudFormation (moto).
func TestConfigureFromStack(t *testing.T) {
	srv := shared.Moto(t)
	ctx := context.Background()
	tpl := `{"Resources":{"T":{"Type":"AWS::SNS::Topic"}},"Outputs":{
"ApiUrl":{"Value":"https://abc123.execute-api.us-east-1.amazonaws.com/prod"},
"ServerId":{"Value":"arn:aws:cloudformation:us-east-1:123456789012:stack/ffb-conf/1"},
"RolePrefix":{"Value":"acme_pg"},"SecretPrefix":{"Value":"firefighter/acme"},
"ReadOnlySecretName":{"Value":"firefighter/acme/acme_pg_firefighter_ro"}}}`
	if _, err := cloudformation.NewFromConfig(srv.Config(ctx)).CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName: aws.String("ffb-conf"), TemplateBody: aws.String(tpl)}); err != nil {
		t.Fatal(err)
	}
	e := baseEnv(t).with("AWS_ENDPOINT_URL", srv.Endpoint, "AWS_ACCESS_KEY_ID", awstest.AccessKeyID, "AWS_SECRET_ACCESS_KEY", awstest.SecretAccessKey)
	code, out, errOut := clientRun(t, e, "configure", "--stack", "ffb-conf", "--json")
	if code != exitOK {
		t.Fatalf("configure --stack = %d %q %q", code, out, errOut)
	}
	var got clientConfig
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	want := clientConfig{APIURL: "https://abc123.execute-api.us-east-1.amazonaws.com/prod", ServerID: "arn:aws:cloudformation:us-east-1:123456789012:stack/ffb-conf/1",
		Region: awstest.Region, RolePrefix: "acme_pg", SecretPrefix: "firefighter/acme"}
	if got != want {
		t.Errorf("configure --stack saved %+v; want %+v", got, want)
	}
	// A flag wins over the stack's output.
	code, out, errOut = clientRun(t, e, "configure", "--stack", "ffb-conf", "--role-prefix", "other_pg", "--json")
	got = clientConfig{}
	if err := json.Unmarshal([]byte(out), &got); code != exitOK || err != nil || got.RolePrefix != "other_pg" || got.SecretPrefix != "firefighter/acme" {
		t.Errorf("configure --stack --role-prefix other_pg = %d %+v %q; want role prefix other_pg, the stack's secret prefix", code, got, errOut)
	}
	code, _, errOut = clientRun(t, e, "configure", "--stack", "no-such-stack")
	if code != exitFailed || !strings.Contains(errOut, "read the outputs of stack no-such-stack") {
		t.Errorf("configure --stack no-such-stack = %d %q", code, errOut)
	}
}

// TestAPIErrors: what the client makes of each kind of failed call, from a server
// that answers as API Gateway or the functions do, and from no server at all.
func TestAPIErrors(t *testing.T) {
	answer := map[string]struct {
		status int
		body   string
	}{
		"/fn/access":   {http.StatusUnauthorized, `{"error":{"code":"unauthenticated","message":"the identity proof was refused"}}`},
		"/gw/access":   {http.StatusForbidden, `{"message":"User: arn:aws:iam::123456789012:user/alice is not authorized to perform: execute-api:Invoke"}`},
		"/slow/access": {http.StatusGatewayTimeout, `{"message": "Endpoint request timed out"}`},
		"/busy/access": {http.StatusServiceUnavailable, `{"error":{"code":"unavailable","message":"the database is busy"}}`},
		"/odd/access":  {http.StatusTeapot, "\x00short and stout\n"},
	}
	var seen []*http.Request
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r)
		a := answer[r.URL.Path]
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	defer ts.Close()
	e := baseEnv(t).with("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00", "AWS_SECRET_ACCESS_KEY", "secret-of-the-test-0123456789",
		"FFB_SERVER_ID", "ffb-test", "AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	tests := []struct {
		base   string
		code   int
		stderr string
	}{
		{ts.URL + "/fn", exitFailed, `{"error":{"code":"unauthenticated","message":"the identity proof was refused; if your AWS credentials expired, refresh them (aws sso login) and try again"}}`},
		{ts.URL + "/gw", exitFailed, `execute-api:Invoke on the ffbroker API (the stack's OnCallPolicyArn or ApproverPolicyArn managed policy)`},
		{ts.URL + "/slow", exitRetry, `"code":"unavailable"`},
		{ts.URL + "/busy", exitRetry, `"code":"unavailable","message":"the database is busy"`},
		{ts.URL + "/odd", exitFailed, `"code":"http_418","message":"short and stout"`},
		{"http://127.0.0.1:" + strconv.Itoa(closedPort(t)), exitRetry, `could not be reached`},
	}
	for _, tc := range tests {
		code, out, errOut := clientRun(t, e, "status", "--json", "--api", tc.base)
		if code != tc.code || out != "" || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("status against %s = %d\nstdout %q\nstderr %q\nwant exit %d, stderr with %q", tc.base, code, out, errOut, tc.code, tc.stderr)
		}
		if strings.Contains(errOut, e["AWS_SECRET_ACCESS_KEY"]) {
			t.Errorf("the secret access key is in the error: %s", errOut)
		}
	}
	if len(seen) != 5 {
		t.Fatalf("the server saw %d calls; want 5", len(seen))
	}
	for _, r := range seen {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEEXAMPLE00/") ||
			!strings.Contains(r.Header.Get("Authorization"), "/"+awstest.Region+"/execute-api/aws4_request") || r.Header.Get("X-Ffb-Identity") == "" {
			t.Errorf("call %s: Authorization %q, proof %d bytes; want SigV4 for execute-api and an identity proof",
				r.URL.Path, r.Header.Get("Authorization"), len(r.Header.Get("X-Ffb-Identity")))
		}
	}
}

func TestAPIRegion(t *testing.T) {
	for host, want := range map[string]string{
		"abc123.execute-api.eu-west-1.amazonaws.com":     "eu-west-1",
		"abc123.execute-api.cn-north-1.amazonaws.com.cn": "cn-north-1",
		"127.0.0.1":          "",
		"api.example.com":    "",
		"execute-api.x.y.z.": "",
	} {
		if got := apiRegion(host); got != want {
			t.Errorf("apiRegion(%q) = %q; want %q", host, got, want)
		}
	}
}

func TestPassEscape(t *testing.T) {
	if got := passEscape(`a:b\c`); got != `a\:b\\c` {
		t.Errorf("passEscape = %q", got)
	}
}
