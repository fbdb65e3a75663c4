package identity_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ffbroker/ffbroker/identity"
)

// TestVerifyRefuses tampers with proofs in every way the verifier must catch
// before calling STS. The hand-signed cases carry a valid signature over the bad
// content, so only the verifier's own checks stop them.
func TestVerifyRefuses(t *testing.T) {
	e := newEnv(t)
	creds := e.user(t, "refuse-erin", "")
	roleARN := e.role(t, "RefuseRole")
	session := e.assume(t, aws.Credentials{}, roleARN, "erin")
	now := time.Now()

	good := proof(t, e.signer(creds), approveReq)
	goodSession := proof(t, e.signer(session), approveReq)
	tamper := func(f func(w *wire)) func(t *testing.T) string {
		return func(t *testing.T) string {
			w := decodeProof(t, good)
			f(&w)
			return w.encode(t)
		}
	}
	signed := func(raw rawSTS) func(t *testing.T) string {
		return func(t *testing.T) string { return e.signRaw(t, creds, approveReq, raw) }
	}
	signedBy := func(s *identity.Signer) func(t *testing.T) string {
		return func(t *testing.T) string { return proof(t, s, approveReq) }
	}
	const (
		getSessionToken = "Action=GetSessionToken&Version=2011-06-15"
	)
	withNow := func(s *identity.Signer, at time.Time) *identity.Signer {
		s.Now = func() time.Time { return at }
		return s
	}
	otherServer := e.signer(creds)
	otherServer.ServerID = "ffbroker-other"
	otherEndpoint := e.signer(creds)
	otherEndpoint.Endpoint = "https://sts.us-east-1.amazonaws.com"
	changed := func(f func(r *identity.Request)) identity.Request {
		r := approveReq
		r.Query = url.Values{"dry": {"1"}}
		f(&r)
		return r
	}

	cases := []struct {
		name   string
		proof  func(t *testing.T) string
		req    identity.Request // zero = approveReq
		verNow time.Time        // zero = time.Now
		want   identity.Reason
	}{
		{"missing", func(*testing.T) string { return "" }, identity.Request{}, time.Time{}, identity.ReasonMissing},
		{"not base64url", func(*testing.T) string { return "a proof!" }, identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"too large (else valid: an unsigned header is dropped)", tamper(func(w *wire) { w.Headers["X-Pad"] = []string{strings.Repeat("p", identity.MaxProofSize)} }), identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"not JSON", func(*testing.T) string { return base64.RawURLEncoding.EncodeToString([]byte("GET / HTTP/1.1")) }, identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"unknown field", func(t *testing.T) string {
			return base64.RawURLEncoding.EncodeToString([]byte(`{"method":"POST","url":"x","headers":{},"body":"","region":"x"}`))
		}, identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"data after the object", func(t *testing.T) string {
			raw, _ := base64.RawURLEncoding.DecodeString(good)
			return base64.RawURLEncoding.EncodeToString(append(raw, []byte(`{}`)...))
		}, identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"method GET", tamper(func(w *wire) { w.Method = "GET" }), identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"no Authorization", tamper(func(w *wire) { delete(w.Headers, "Authorization") }), identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"Authorization not SigV4", tamper(func(w *wire) {
			w.Headers["Authorization"] = []string{strings.Replace(w.Headers["Authorization"][0], "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1)}
		}), identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"Authorization with a repeated field", tamper(func(w *wire) {
			w.Headers["Authorization"] = []string{w.Headers["Authorization"][0] + ", Signature=" + strings.Repeat("0", 64)}
		}), identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"header repeated under another case", tamper(func(w *wire) { w.Headers["x-ffb-server-id"] = []string{"ffbroker-other"} }), identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"header with two values", tamper(func(w *wire) {
			w.Headers["X-Ffb-Server-Id"] = append(w.Headers["X-Ffb-Server-Id"], "ffbroker-other")
		}), identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"header value with CR LF", tamper(func(w *wire) { w.Headers["X-Amz-Date"] = []string{w.Headers["X-Amz-Date"][0] + "\r\nX-Evil: 1"} }), identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"signed header absent", tamper(func(w *wire) { delete(w.Headers, "Content-Type") }), identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"Content-Length not the body's", tamper(func(w *wire) { w.Headers["Content-Length"] = []string{"4"} }), identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"digest header present but not signed", signed(rawSTS{omit: []string{identity.DigestHeader}, unsigned: map[string]string{identity.DigestHeader: identity.Digest(approveReq)}}), identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"server id header present but not signed", signed(rawSTS{omit: []string{identity.ServerIDHeader}, unsigned: map[string]string{identity.ServerIDHeader: serverID}}), identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"X-Amz-Date not the scope's day", tamper(func(w *wire) {
			w.Headers["X-Amz-Date"] = []string{now.UTC().Add(-48 * time.Hour).Format("20060102T150405Z")}
		}), identity.Request{}, time.Time{}, identity.ReasonMalformed},

		{"expired: signed 6 minutes ago", signedBy(withNow(e.signer(creds), now.Add(-6*time.Minute))), identity.Request{}, time.Time{}, identity.ReasonStale},
		{"expired: verified 6 minutes later", func(*testing.T) string { return good }, identity.Request{}, now.Add(6 * time.Minute), identity.ReasonStale},
		{"dated 2 minutes in the future", signedBy(withNow(e.signer(creds), now.Add(2*time.Minute))), identity.Request{}, time.Time{}, identity.ReasonStale},
		{"verifier clock 2 minutes behind", func(*testing.T) string { return good }, identity.Request{}, now.Add(-2 * time.Minute), identity.ReasonStale},

		{"another server id", signedBy(otherServer), identity.Request{}, time.Time{}, identity.ReasonWrongServer},
		{"server id tampered after signing", tamper(func(w *wire) { w.Headers["X-Ffb-Server-Id"] = []string{"ffbroker-other"} }), identity.Request{}, time.Time{}, identity.ReasonWrongServer},

		{"another method", func(*testing.T) string { return good }, changed(func(r *identity.Request) { r.Method = "DELETE" }), time.Time{}, identity.ReasonWrongRequest},
		{"another path", func(*testing.T) string { return good }, changed(func(r *identity.Request) { r.Path = "/access/my_pg_firefighter_ro/approve" }), time.Time{}, identity.ReasonWrongRequest},
		{"another query value", func(*testing.T) string { return good }, changed(func(r *identity.Request) { r.Query.Set("dry", "0") }), time.Time{}, identity.ReasonWrongRequest},
		{"an extra query parameter", func(*testing.T) string { return good }, changed(func(r *identity.Request) { r.Query.Add("role", "x") }), time.Time{}, identity.ReasonWrongRequest},
		{"no query", func(*testing.T) string { return good }, changed(func(r *identity.Request) { r.Query = nil }), time.Time{}, identity.ReasonWrongRequest},
		{"method that is not a token", func(*testing.T) string { return good }, changed(func(r *identity.Request) { r.Method = "POST\n" }), time.Time{}, identity.ReasonWrongRequest},
		{"another body", func(*testing.T) string { return good }, changed(func(r *identity.Request) { r.Body = []byte(`{"request_id":"r-2"}`) }), time.Time{}, identity.ReasonWrongRequest},
		{"session proof for another body", func(*testing.T) string { return goodSession }, changed(func(r *identity.Request) { r.Body = nil }), time.Time{}, identity.ReasonWrongRequest},

		{"GetSessionToken", signed(rawSTS{body: getSessionToken}), identity.Request{}, time.Time{}, identity.ReasonWrongAction},
		{"AssumeRole", signed(rawSTS{body: "Action=AssumeRole&Version=2011-06-15&RoleArn=" + url.QueryEscape(roleARN) + "&RoleSessionName=x"}), identity.Request{}, time.Time{}, identity.ReasonWrongAction},
		{"GetCallerIdentity with an extra parameter", signed(rawSTS{body: "Action=GetCallerIdentity&Version=2011-06-15&DurationSeconds=900"}), identity.Request{}, time.Time{}, identity.ReasonWrongAction},
		{"GetCallerIdentity, parameters reordered", signed(rawSTS{body: "Version=2011-06-15&Action=GetCallerIdentity"}), identity.Request{}, time.Time{}, identity.ReasonWrongAction},
		{"body not a form", signed(rawSTS{body: "Action=%zz"}), identity.Request{}, time.Time{}, identity.ReasonMalformed},
		{"query string smuggled into the URL", signed(rawSTS{url: e.srv.Endpoint + "/?Action=GetSessionToken&Version=2011-06-15"}), identity.Request{}, time.Time{}, identity.ReasonWrongAction},
		{"empty query string", signed(rawSTS{url: e.srv.Endpoint + "/?"}), identity.Request{}, time.Time{}, identity.ReasonWrongAction},
		{"signed for another service", signed(rawSTS{service: "iam"}), identity.Request{}, time.Time{}, identity.ReasonWrongAction},

		{"another endpoint host", signedBy(otherEndpoint), identity.Request{}, time.Time{}, identity.ReasonWrongEndpoint},
		{"URL host changed after signing", tamper(func(w *wire) { w.URL = "http://sts.example.com/" }), identity.Request{}, time.Time{}, identity.ReasonWrongEndpoint},
		{"another path on the endpoint", signed(rawSTS{url: e.srv.Endpoint + "/sts/"}), identity.Request{}, time.Time{}, identity.ReasonWrongEndpoint},
		{"not http", tamper(func(w *wire) { w.URL = strings.Replace(w.URL, "http://", "ftp://", 1) }), identity.Request{}, time.Time{}, identity.ReasonWrongEndpoint},
		{"signed for another region", signed(rawSTS{region: "eu-west-1"}), identity.Request{}, time.Time{}, identity.ReasonWrongEndpoint},
		{"Host header naming another host", signed(rawSTS{unsigned: map[string]string{"Host": "sts.amazonaws.com"}}), identity.Request{}, time.Time{}, identity.ReasonWrongEndpoint},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.proof(t)
			r := tc.req
			if r.Method == "" {
				r = approveReq
			}
			v, calls := e.verifier()
			if !tc.verNow.IsZero() {
				v.Now = func() time.Time { return tc.verNow }
			}
			got, err := v.Verify(t.Context(), p, r)
			var ie *identity.Error
			if !errors.As(err, &ie) || ie.Reason != tc.want {
				t.Fatalf("Verify() = %+v, %v; want an *identity.Error with reason %s", got, err, tc.want)
			}
			if got != (identity.Caller{}) {
				t.Errorf("Verify() caller = %+v; want none with an error", got)
			}
			if n := calls.Load(); n != 0 {
				t.Errorf("STS calls = %d; want 0 (refused before forwarding)", n)
			}
			secrets := map[string]string{"secret key": creds.SecretAccessKey, "session secret": session.SecretAccessKey, "session token": session.SessionToken}
			if len(p) > 16 {
				secrets["proof"] = p
				if w, ok := tryDecode(p); ok && len(w.Headers["Authorization"]) == 1 && strings.Contains(w.Headers["Authorization"][0], "Signature=") {
					secrets["signature"] = w.signature()
				}
			}
			assertNoSecrets(t, err, secrets)
		})
	}
}

// tryDecode decodes a proof if it is one.
func tryDecode(p string) (wire, bool) {
	var w wire
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return w, false
	}
	return w, json.Unmarshal(raw, &w) == nil
}
