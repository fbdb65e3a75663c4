package identity_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ffbroker/ffbroker/identity"
)

// The STS answers below are what AWS sends; moto cannot be made to answer 5xx,
// throttle or redirect, so these tests use a hand-written STS stand-in.
const (
	answerOK = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/grace@example.com</Arn>
    <UserId>AROAEXAMPLEID:grace@example.com</UserId>
    <Account>111122223333</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`
	answerFederated = `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:sts::111122223333:federated-user/grace</Arn><UserId>111122223333:grace</UserId><Account>111122223333</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`
	answerOtherAcct = `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/grace</Arn><UserId>AIDAEXAMPLE</UserId><Account>444455556666</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`
	answerNoUserID  = `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/grace</Arn><Account>111122223333</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`
)

// stsError is an STS error body as AWS sends it, with a message that echoes
// what must never reach an error: here, the signature.
func stsErrorBody(code, echo string) string {
	return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>` + code +
		`</Code><Message>The request signature we calculated does not match ` + echo + `</Message></Error><RequestId>x</RequestId></ErrorResponse>`
}

// fakeSTS answers every request with status and body and records the last one.
type fakeSTS struct {
	srv    *httptest.Server
	calls  atomic.Int64
	last   atomic.Pointer[http.Request]
	body   atomic.Pointer[string]
	status int
	answer func(sig string) string
}

func newFakeSTS(t *testing.T, status int, answer func(sig string) string) *fakeSTS {
	t.Helper()
	f := &fakeSTS{status: status, answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		s := string(b)
		f.body.Store(&s)
		f.last.Store(r.Clone(r.Context()))
		auth := r.Header.Get("Authorization")
		sig := auth[strings.LastIndex(auth, "=")+1:]
		if f.status == http.StatusFound {
			http.Redirect(w, r, f.answer(sig), http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(f.status)
		io.WriteString(w, f.answer(sig))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// fakeCreds sign proofs for the stand-in, which checks no signature.
var fakeCreds = aws.Credentials{AccessKeyID: "AKIAEXAMPLEEXAMPLE12", SecretAccessKey: "fake-secret-key-never-shown-0000000000000", SessionToken: "fake-session-token-never-shown"}

func TestVerifySTSAnswers(t *testing.T) {
	redirected := newFakeSTS(t, http.StatusOK, func(string) string { return answerOK })
	fixed := func(s string) func(string) string { return func(string) string { return s } }
	cases := []struct {
		name    string
		status  int
		answer  func(sig string) string
		want    identity.Reason // "" = verified
		wantMsg string
	}{
		{"AWS's answer", http.StatusOK, fixed(answerOK), "", ""},
		{"500", http.StatusInternalServerError, fixed("oops"), identity.ReasonUnavailable, "unexpected status"},
		{"503", http.StatusServiceUnavailable, fixed(stsErrorBody("ServiceUnavailable", "")), identity.ReasonUnavailable, ""},
		{"throttled", http.StatusBadRequest, fixed(stsErrorBody("Throttling", "")), identity.ReasonUnavailable, "Throttling"},
		{"429", http.StatusTooManyRequests, fixed(""), identity.ReasonUnavailable, ""},
		{"bad signature", http.StatusForbidden, func(sig string) string { return stsErrorBody("SignatureDoesNotMatch", sig) }, identity.ReasonRefused, "SignatureDoesNotMatch"},
		{"expired token", http.StatusForbidden, fixed(stsErrorBody("ExpiredToken", "")), identity.ReasonRefused, "ExpiredToken"},
		{"400 with a code that is not one", http.StatusBadRequest, fixed(stsErrorBody("&lt;b&gt;x", "")), identity.ReasonRefused, "sts refused the proof"},
		{"403 not XML", http.StatusForbidden, fixed("denied"), identity.ReasonRefused, ""},
		{"redirect", http.StatusFound, fixed(redirected.srv.URL + "/"), identity.ReasonUnavailable, ""},
		{"404", http.StatusNotFound, fixed(""), identity.ReasonUnavailable, ""},
		{"answer too large", http.StatusOK, fixed(strings.Repeat(" ", 65<<10) + answerOK), identity.ReasonUnavailable, "too large"},
		{"answer not XML", http.StatusOK, fixed(`{"Arn":"arn:aws:iam::111122223333:user/grace"}`), identity.ReasonUnavailable, ""},
		{"federated user", http.StatusOK, fixed(answerFederated), identity.ReasonRefused, "federated"},
		{"account not the ARN's", http.StatusOK, fixed(answerOtherAcct), identity.ReasonUnavailable, ""},
		{"no user id", http.StatusOK, fixed(answerNoUserID), identity.ReasonUnavailable, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSTS(t, tc.status, tc.answer)
			s := &identity.Signer{Credentials: static(fakeCreds), Region: "us-east-1", Endpoint: f.srv.URL, ServerID: serverID}
			p := proof(t, s, approveReq)
			follow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
			v := &identity.Verifier{ServerID: serverID, Endpoint: f.srv.URL, Region: "us-east-1", HTTPClient: follow}
			got, err := v.Verify(t.Context(), p, approveReq)
			if n := f.calls.Load(); n != 1 {
				t.Errorf("STS calls = %d; want 1", n)
			}
			if n := redirected.calls.Load(); n != 0 {
				t.Errorf("calls to the redirect target = %d; want 0 (redirects are never followed)", n)
			}
			if tc.want == "" {
				if err != nil || got.Principal.Key != "session/grace@example.com" || got.Account != "111122223333" {
					t.Fatalf("Verify() = %+v, %v; want session/grace@example.com in 111122223333", got, err)
				}
				return
			}
			var ie *identity.Error
			if !errors.As(err, &ie) || ie.Reason != tc.want {
				t.Fatalf("Verify() = %+v, %v; want reason %s", got, err, tc.want)
			}
			if !strings.Contains(ie.Message, tc.wantMsg) {
				t.Errorf("Verify() message = %q; want it to contain %q", ie.Message, tc.wantMsg)
			}
			assertNoSecrets(t, err, map[string]string{"proof": p, "signature": decodeProof(t, p).signature(),
				"secret key": fakeCreds.SecretAccessKey, "session token": fakeCreds.SessionToken, "STS message": "we calculated"})
		})
	}
}

// TestVerifyForwardsOnlyTheSignedRequest checks what reaches STS: the signed
// headers and Authorization, the body, the verifier's host and path; nothing the
// proof adds unsigned.
func TestVerifyForwardsOnlyTheSignedRequest(t *testing.T) {
	f := newFakeSTS(t, http.StatusOK, func(string) string { return answerOK })
	s := &identity.Signer{Credentials: static(fakeCreds), Region: "us-east-1", Endpoint: f.srv.URL, ServerID: serverID}
	w := decodeProof(t, proof(t, s, approveReq))
	w.Headers["X-Evil"] = []string{"1"}
	w.Headers["X-Amz-Target"] = []string{"AWSSecurityTokenServiceV20110615.GetSessionToken"}
	v := &identity.Verifier{ServerID: serverID, Endpoint: f.srv.URL, Region: "us-east-1"}
	if _, err := v.Verify(t.Context(), w.encode(t), approveReq); err != nil {
		t.Fatalf("Verify() error = %v", err)
	}
	req := f.last.Load()
	if req.Method != http.MethodPost || req.URL.Path != "/" || req.URL.RawQuery != "" || req.Host != strings.TrimPrefix(f.srv.URL, "http://") {
		t.Errorf("STS got %s %s host %s; want POST / to the verifier's endpoint", req.Method, req.URL, req.Host)
	}
	if got, want := *f.body.Load(), "Action=GetCallerIdentity&Version=2011-06-15"; got != want {
		t.Errorf("STS got body %q; want %q", got, want)
	}
	for _, h := range []string{"X-Evil", "X-Amz-Target"} {
		if req.Header.Get(h) != "" {
			t.Errorf("STS got unsigned header %s; want only signed headers", h)
		}
	}
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token", "Content-Type", identity.ServerIDHeader, identity.DigestHeader} {
		if got, want := req.Header.Get(h), w.Headers[h][0]; got != want {
			t.Errorf("STS got %s = %q; want the proof's %q", h, got, want)
		}
	}
}

func TestVerifyUnreachable(t *testing.T) {
	f := newFakeSTS(t, http.StatusOK, func(string) string { return answerOK })
	s := &identity.Signer{Credentials: static(fakeCreds), Region: "us-east-1", Endpoint: f.srv.URL, ServerID: serverID}
	p := proof(t, s, approveReq)
	f.srv.Close()
	v := &identity.Verifier{ServerID: serverID, Endpoint: f.srv.URL, Region: "us-east-1"}
	_, err := v.Verify(t.Context(), p, approveReq)
	if got := identity.ReasonOf(err); got != identity.ReasonUnavailable {
		t.Fatalf("Verify() with STS down error = %v; want reason unavailable", err)
	}
	assertNoSecrets(t, err, map[string]string{"proof": p, "signature": decodeProof(t, p).signature(), "session token": fakeCreds.SessionToken})
}

func TestVerifyMisconfigured(t *testing.T) {
	f := newFakeSTS(t, http.StatusOK, func(string) string { return answerOK })
	s := &identity.Signer{Credentials: static(fakeCreds), Region: "us-east-1", Endpoint: f.srv.URL, ServerID: serverID}
	p := proof(t, s, approveReq)
	cases := []struct {
		name string
		v    identity.Verifier
	}{
		{"no server id", identity.Verifier{Endpoint: f.srv.URL, Region: "us-east-1"}},
		{"server id with a space", identity.Verifier{ServerID: "ffbroker test", Endpoint: f.srv.URL, Region: "us-east-1"}},
		{"endpoint with a path", identity.Verifier{ServerID: serverID, Endpoint: f.srv.URL + "/sts", Region: "us-east-1"}},
		{"endpoint not http", identity.Verifier{ServerID: serverID, Endpoint: "file:///etc/passwd", Region: "us-east-1"}},
		{"no endpoint and no region", identity.Verifier{ServerID: serverID}},
		{"malformed trusted session role", identity.Verifier{ServerID: serverID, Endpoint: f.srv.URL, Region: "us-east-1", TrustedSessionRoles: []string{"arn:aws:iam::1:role/x"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.v.Verify(t.Context(), p, approveReq)
			if identity.ReasonOf(err) != identity.ReasonUnavailable {
				t.Fatalf("Verify() = %+v, %v; want reason unavailable", got, err)
			}
			if n := f.calls.Load(); n != 0 {
				t.Errorf("STS calls = %d; want 0", n)
			}
		})
	}
}
