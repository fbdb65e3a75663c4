package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/ffbroker/ffbroker/broker/awsretry"
	"github.com/ffbroker/ffbroker/identity"
)

// Client mode: the CLI calls the deployed REST API (or ffbroker local-api) with the
// caller's own AWS credentials, from the SDK's default chain (environment, shared
// profiles, SSO, --profile): every call is SigV4-signed for execute-api (API
// Gateway's IAM authorization) and carries an identity proof bound to the
// deployment's server id and to this exact call (what the functions check).

// clientConfig is what `ffbroker configure` saves: where the API is and which
// deployment it is.
type clientConfig struct {
	APIURL   string `json:"api_url"`
	ServerID string `json:"server_id"`
	Region   string `json:"region,omitempty"`
	// RolePrefix and SecretPrefix name the two roles and their secrets, for
	// connect (the stack's RolePrefix and SecretPrefix).
	RolePrefix   string `json:"role_prefix,omitempty"`
	SecretPrefix string `json:"secret_prefix,omitempty"`
}

// configPath is the client's configuration file: FFB_CONFIG, else
// $XDG_CONFIG_HOME/ffbroker/config.json, else ~/.config/ffbroker/config.json.
func (c *cli) configPath() string {
	if p := c.env().ConfigFile; p != "" {
		return p
	}
	dir := c.getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := c.getenv("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "ffbroker", "config.json")
}

// savedConfig reads the configuration file; a missing file is an empty config.
func (c *cli) savedConfig() (clientConfig, error) {
	var cc clientConfig
	p := c.configPath()
	if p == "" {
		return cc, nil
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return cc, nil
	}
	if err != nil {
		return cc, &configError{err: fmt.Errorf("read %s: %w", p, err)}
	}
	// The file says where the identity proofs go: someone else able to write it
	// (or to replace it) could send them elsewhere.
	if err := checkOwnFile(p); err != nil {
		return cc, &configError{err: err}
	}
	if err := json.Unmarshal(b, &cc); err != nil {
		return cc, &configError{err: fmt.Errorf("%s is not valid: %w (run ffbroker configure again)", p, err)}
	}
	return cc, nil
}

// apiURL is the API the client talks to ("" when none is configured): --api, else
// FFB_API_URL, else the configuration file.
func (c *cli) apiURL() (string, error) {
	if c.g.api != "" {
		return c.g.api, nil
	}
	if u := c.env().APIURL; u != "" {
		return u, nil
	}
	cc, err := c.savedConfig()
	return cc.APIURL, err
}

// clientMode reports whether the command goes through the API: yes with an API
// URL, unless --local; with neither an API nor a database configured it is a
// configuration error that says what to do.
func (c *cli) clientMode() (bool, error) {
	if c.g.local {
		return false, nil
	}
	u, err := c.apiURL()
	if err != nil {
		return false, err
	}
	if u != "" {
		return true, nil
	}
	if c.env().DBHost != "" {
		return false, nil
	}
	return false, &configError{err: errors.New("no ffbroker API configured: run 'ffbroker configure --stack STACK' " +
		"(or --api URL --server-id ID), or set FFB_API_URL and FFB_SERVER_ID; a DBA on a machine that reaches the " +
		"database runs the functions' code in-process with --local and FFB_DB_*")}
}

// apiClient calls the API with the caller's credentials.
type apiClient struct {
	base   *url.URL
	region string
	creds  aws.CredentialsProvider
	proofs *identity.Signer
	http   *http.Client
	now    func() time.Time
}

// awsConfig loads the caller's AWS configuration: the SDK's default chain with
// --profile and --region applied. The variables the SDK reads itself (credentials,
// region, endpoint, profile) are taken from this run's environment, so that a
// command sees exactly the environment it was given.
func (c *cli) awsConfig(ctx context.Context, region string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	profile := or(c.g.profile, c.getenv("AWS_PROFILE"))
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	} else if id, secret := c.getenv("AWS_ACCESS_KEY_ID"), c.getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, c.getenv("AWS_SESSION_TOKEN"))))
	}
	if region = or(region, or(c.getenv("AWS_REGION"), c.getenv("AWS_DEFAULT_REGION"))); region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if ep := c.getenv("AWS_ENDPOINT_URL"); ep != "" {
		opts = append(opts, config.WithBaseEndpoint(ep))
	}
	if strings.EqualFold(c.getenv("AWS_EC2_METADATA_DISABLED"), "true") {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, &configError{err: fmt.Errorf("AWS configuration: %w", err)}
	}
	return awsretry.Apply(cfg), nil
}

// newAPIClient builds the client of the configured API.
func (c *cli) newAPIClient(ctx context.Context) (*apiClient, error) {
	raw, err := c.apiURL()
	if err != nil {
		return nil, err
	}
	saved, err := c.savedConfig()
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, &configError{err: fmt.Errorf("the API URL %q is not an http(s) URL (the stack output ApiUrl)", raw)}
	}
	if base.Scheme == "http" && !loopback(base.Hostname()) {
		return nil, &configError{err: fmt.Errorf("the API URL %q is plain http to a remote host: use the https URL of the stack output ApiUrl", raw)}
	}
	serverID := or(c.env().ServerID, saved.ServerID)
	if serverID == "" {
		return nil, &configError{err: errors.New("the deployment's server id is not configured (the stack output ServerId): " +
			"run 'ffbroker configure' or set FFB_SERVER_ID")}
	}
	// The API's region signs both the call and the identity proof (the functions
	// verify it with their own region's STS).
	region := or(c.g.region, or(apiRegion(base.Hostname()), saved.Region))
	cfg, err := c.awsConfig(ctx, region)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		return nil, &configError{err: errors.New("no AWS region: pass --region or set AWS_REGION (the API's region)")}
	}
	signer := identity.NewSigner(cfg, serverID)
	return &apiClient{base: base, region: cfg.Region, creds: cfg.Credentials, proofs: signer,
		http: &http.Client{Timeout: 35 * time.Second, CheckRedirect: noRedirects}, now: time.Now}, nil
}

// noRedirects stops the client at a redirect: the API never redirects, and a
// redirect would carry the identity proof and the signed call to another address.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// apiRegion is the region of an execute-api host name
// (ID.execute-api.REGION.amazonaws.com), else "".
func apiRegion(host string) string {
	parts := strings.Split(host, ".")
	if len(parts) >= 5 && parts[1] == "execute-api" {
		return parts[2]
	}
	return ""
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apiError is an error answer of the API, in its one error shape
// {"error":{"code","message"}}, or what the client could not get through.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (%s)", e.Message, e.Code) }

// maxAnswer bounds what the client reads of an answer.
const maxAnswer = 4 << 20

// do sends one API call: route is the resource path with its parameters filled
// (e.g. /approvals/ID), the path the proof binds; body is nil or JSON. A 2xx answer is
// decoded into out (when not nil); anything else is an *apiError.
func (a *apiClient) do(ctx context.Context, method, route string, query url.Values, body []byte, out any) (int, error) {
	creds, err := a.creds.Retrieve(ctx)
	if err != nil || !creds.HasKeys() {
		return 0, &configError{err: fmt.Errorf("no usable AWS credentials (run 'aws sso login', pass --profile, or set AWS_PROFILE): %v", errOr(err, "no access key"))}
	}
	proof, err := a.proofs.Proof(ctx, identity.Request{Method: method, Path: route, Query: query, Body: body})
	if err != nil {
		return 0, &configError{err: fmt.Errorf("sign the identity proof with your AWS credentials: %w", err)}
	}
	u := a.base.JoinPath(route)
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set(identity.Header, proof)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", strings.ReplaceAll(versionText(), " ", "/"))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", a.region, a.now()); err != nil {
		return 0, fmt.Errorf("sign the API call: %w", err)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, &apiError{Code: "unavailable", Message: fmt.Sprintf("the ffbroker API at %s could not be reached: %v", a.base.Redacted(), rootCause(err))}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, &apiError{Status: resp.StatusCode, Code: "unavailable", Message: "the answer was cut off: " + err.Error()}
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, answerError(resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, &apiError{Status: resp.StatusCode, Code: "internal", Message: "the API's answer is not what this client understands (is the client older than the API?): " + err.Error()}
		}
	}
	return resp.StatusCode, nil
}

// answerError reads an error answer: the functions' {"error":{...}}, or API
// Gateway's own {"message": "..."} (IAM authorization, throttling, timeouts).
func answerError(status int, b []byte) error {
	var fn struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &fn) == nil && fn.Error.Code != "" {
		e := &apiError{Status: status, Code: fn.Error.Code, Message: fn.Error.Message}
		if e.Code == "unauthenticated" {
			e.Message += "; if your AWS credentials expired, refresh them (aws sso login) and try again"
		}
		return e
	}
	var gw struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(b, &gw)
	msg := printable(or(gw.Message, string(b)), 300)
	switch status {
	case http.StatusForbidden:
		return &apiError{Status: status, Code: "forbidden", Message: "API Gateway refused the call (" + msg + "): your IAM identity needs " +
			"execute-api:Invoke on the ffbroker API (the stack's OnCallPolicyArn or ApproverPolicyArn managed policy)"}
	case http.StatusTooManyRequests:
		return &apiError{Status: status, Code: "unavailable", Message: "the API is throttling calls (" + msg + "); try again in a few seconds"}
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return &apiError{Status: status, Code: "unavailable", Message: fmt.Sprintf("the API did not answer in time (HTTP %d: %s); try again", status, msg)}
	}
	return &apiError{Status: status, Code: fmt.Sprintf("http_%d", status), Message: or(msg, http.StatusText(status))}
}

// printable cuts s to n bytes of printable text.
func printable(s string, n int) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// rootCause is the innermost error of a failed HTTP call (connection refused, no such
// host), without the URL the caller already knows.
func rootCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}
