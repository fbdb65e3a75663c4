package identity_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ffbroker/ffbroker/identity"
	"github.com/ffbroker/ffbroker/internal/awstest"
)

// serverID is the deployment the tests' proofs are for.
const serverID = "ffbroker-test"

// trustPolicy lets any principal of the moto account assume a role.
const trustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + awstest.AccountID + `:root"},"Action":"sts:AssumeRole"}]}`

// identityEnv is one moto server with the IAM calls the tests make on it.
type identityEnv struct {
	srv *awstest.Server
	cfg aws.Config
	iam *iam.Client
}

// newEnv returns the shared moto server's environment, emptied first so that a
// test can run again (-count) with the same IAM names. Tests that use it do not
// run in parallel.
func newEnv(t *testing.T) *identityEnv {
	t.Helper()
	srv := moto.Get(t)
	if err := srv.Reset(t.Context()); err != nil {
		t.Fatalf("reset moto: %v", err)
	}
	return envFor(t, srv)
}

// envFor returns srv's environment.
func envFor(t *testing.T, srv *awstest.Server) *identityEnv {
	t.Helper()
	cfg := srv.Config(t.Context())
	return &identityEnv{srv: srv, cfg: cfg, iam: iam.NewFromConfig(cfg)}
}

// user creates IAM user name (with path, when given) and an access key, and
// returns the key's credentials.
func (e *identityEnv) user(t *testing.T, name, path string) aws.Credentials {
	t.Helper()
	ctx := t.Context()
	in := &iam.CreateUserInput{UserName: aws.String(name)}
	if path != "" {
		in.Path = aws.String(path)
	}
	if _, err := e.iam.CreateUser(ctx, in); err != nil {
		t.Fatalf("CreateUser(%s) error = %v", name, err)
	}
	key, err := e.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateAccessKey(%s) error = %v", name, err)
	}
	return aws.Credentials{AccessKeyID: *key.AccessKey.AccessKeyId, SecretAccessKey: *key.AccessKey.SecretAccessKey}
}

// role creates role name (anyone in the account may assume it) and returns its ARN.
func (e *identityEnv) role(t *testing.T, name string) string {
	t.Helper()
	out, err := e.iam.CreateRole(t.Context(), &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trustPolicy)})
	if err != nil {
		t.Fatalf("CreateRole(%s) error = %v", name, err)
	}
	return *out.Role.Arn
}

// assume assumes roleARN as session with creds (the test credentials when
// zero) and returns the session's credentials.
func (e *identityEnv) assume(t *testing.T, creds aws.Credentials, roleARN, session string) aws.Credentials {
	t.Helper()
	cfg := e.cfg.Copy()
	if creds.AccessKeyID != "" {
		cfg.Credentials = static(creds)
	}
	out, err := sts.NewFromConfig(cfg).AssumeRole(t.Context(), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String(session)})
	if err != nil {
		t.Fatalf("AssumeRole(%s, %s) error = %v", roleARN, session, err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
}

// signer returns a Signer for the server with creds.
func (e *identityEnv) signer(creds aws.Credentials) *identity.Signer {
	cfg := e.cfg.Copy()
	cfg.Credentials = static(creds)
	return identity.NewSigner(cfg, serverID)
}

// verifier returns a Verifier for the server that counts the STS calls it makes.
func (e *identityEnv) verifier(trusted ...string) (*identity.Verifier, *atomic.Int64) {
	v := identity.NewVerifier(e.cfg, serverID, trusted)
	calls := &atomic.Int64{}
	v.HTTPClient = &http.Client{Transport: countingTransport{next: http.DefaultTransport, calls: calls}}
	return v, calls
}

// static is a credentials provider that always returns creds.
func static(creds aws.Credentials) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
}

// countingTransport counts the requests it passes on.
type countingTransport struct {
	next  http.RoundTripper
	calls *atomic.Int64
}

// RoundTrip counts req and sends it.
func (c countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return c.next.RoundTrip(req)
}

// proof signs r with s or fails the test.
func proof(t *testing.T, s *identity.Signer, r identity.Request) string {
	t.Helper()
	p, err := s.Proof(t.Context(), r)
	if err != nil {
		t.Fatalf("Proof(%s %s) error = %v", r.Method, r.Path, err)
	}
	return p
}

// wire is a decoded proof, to tamper with.
type wire struct {
	Method  string              `json:"method"`
	URL     string              `json:"url"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

// decodeProof decodes a proof or fails the test.
func decodeProof(t *testing.T, p string) wire {
	t.Helper()
	var w wire
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		t.Fatalf("decode proof: %v", err)
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatalf("decode proof JSON: %v", err)
	}
	return w
}

// encode encodes w as a proof.
func (w wire) encode(t *testing.T) string {
	t.Helper()
	raw, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// signature returns the Signature= part of a proof's Authorization header.
func (w wire) signature() string {
	auth := w.Headers["Authorization"][0]
	return auth[strings.Index(auth, "Signature=")+len("Signature="):]
}

// assertNoSecrets fails when err's text holds any of secrets.
func assertNoSecrets(t *testing.T, err error, secrets map[string]string) {
	t.Helper()
	if err == nil {
		return
	}
	for what, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains the %s", err, what)
		}
	}
}

// rawSTS describes a signed request to build by hand, for proofs whose
// signature is valid over content the verifier must refuse.
type rawSTS struct {
	url      string            // "" = the server's endpoint + "/"
	body     string            // "" = the GetCallerIdentity form
	headers  map[string]string // set before signing (signed)
	unsigned map[string]string // set after signing (present, not signed)
	omit     []string          // headers not to set before signing
	region   string            // "" = awstest.Region
	service  string            // "" = sts
	at       time.Time         // zero = now
}

// signRaw signs raw with creds the way Signer does, but with what raw says.
func (e *identityEnv) signRaw(t *testing.T, creds aws.Credentials, r identity.Request, raw rawSTS) string {
	t.Helper()
	if raw.url == "" {
		raw.url = e.srv.Endpoint + "/"
	}
	if raw.body == "" {
		raw.body = "Action=GetCallerIdentity&Version=2011-06-15"
	}
	if raw.region == "" {
		raw.region = awstest.Region
	}
	if raw.service == "" {
		raw.service = "sts"
	}
	if raw.at.IsZero() {
		raw.at = time.Now()
	}
	req, err := http.NewRequest(http.MethodPost, raw.url, strings.NewReader(raw.body))
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{
		"Content-Type":          "application/x-www-form-urlencoded; charset=utf-8",
		identity.ServerIDHeader: serverID,
		identity.DigestHeader:   identity.Digest(r),
	}
	for _, k := range raw.omit {
		delete(base, k)
	}
	for k, v := range raw.headers {
		base[k] = v
	}
	for k, v := range base {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(raw.body))
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), raw.service, raw.region, raw.at); err != nil {
		t.Fatalf("SignHTTP() error = %v", err)
	}
	for k, v := range raw.unsigned {
		req.Header.Set(k, v)
	}
	h := map[string][]string(req.Header.Clone())
	h["Content-Length"] = []string{strconv.Itoa(len(raw.body))}
	return wire{Method: req.Method, URL: req.URL.String(), Headers: h, Body: raw.body}.encode(t)
}

// contains is strings.Contains.
func contains(s, sub string) bool { return strings.Contains(s, sub) }

// mustDecode returns the JSON of a proof.
func mustDecode(t *testing.T, p string) []byte {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
