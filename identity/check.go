package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// signedRequest is a proof that passed every local check: what to forward.
type signedRequest struct {
	headers http.Header // the signed headers and Authorization, one value each
	body    string
}

// authorization is the parsed Authorization header of a proof.
type authorization struct {
	date, region, service string
	signedHeaders         []string // lower case, as signed
}

// check runs every check of a proof that needs no network, in the order the
// reasons are documented, and returns the request to forward.
func (v *Verifier) check(proof string, r Request, endpoint *url.URL) (signedRequest, error) {
	if proof == "" {
		return signedRequest{}, refuse(ReasonMissing, "no identity proof in the "+Header+" header")
	}
	p, err := decode(proof)
	if err != nil {
		return signedRequest{}, err
	}
	if err := checkTarget(p, endpoint); err != nil {
		return signedRequest{}, err
	}
	if err := checkBody(p.Body); err != nil {
		return signedRequest{}, err
	}
	headers, err := canonicalHeaders(p.Headers)
	if err != nil {
		return signedRequest{}, err
	}
	auth, err := parseAuthorization(headers.Get(hdrAuthorization))
	if err != nil {
		return signedRequest{}, err
	}
	if auth.service != stsService {
		return signedRequest{}, refuse(ReasonWrongAction, "the proof is signed for another service than sts")
	}
	if v.Region != "" && auth.region != v.Region {
		return signedRequest{}, refuse(ReasonWrongEndpoint, "the proof is signed for another region than the verifier's STS endpoint")
	}
	fwd, err := signedHeaders(headers, auth, p, endpoint)
	if err != nil {
		return signedRequest{}, err
	}
	if headers.Get(ServerIDHeader) != v.ServerID {
		return signedRequest{}, refuse(ReasonWrongServer, "the proof is for another deployment")
	}
	if !validHeaderName(r.Method) || headers.Get(DigestHeader) != Digest(r) { // a method is a token: no newline shifts the digest's fields
		return signedRequest{}, refuse(ReasonWrongRequest, "the proof is for another API request (method, path, query or body differ)")
	}
	if err := v.checkDate(headers.Get(hdrAmzDate), auth.date); err != nil {
		return signedRequest{}, err
	}
	return signedRequest{headers: fwd, body: p.Body}, nil
}

// decode turns the header value into the signed request it encodes.
func decode(proof string) (wireProof, error) {
	if len(proof) > MaxProofSize {
		return wireProof{}, refuse(ReasonMalformed, fmt.Sprintf("the proof is larger than %d bytes", MaxProofSize))
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(proof)
	if err != nil {
		return wireProof{}, refuse(ReasonMalformed, "the proof is not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var p wireProof
	if err := dec.Decode(&p); err != nil {
		return wireProof{}, refuse(ReasonMalformed, "the proof is not a JSON object of method, url, headers and body")
	}
	if dec.More() {
		return wireProof{}, refuse(ReasonMalformed, "the proof has data after its JSON object")
	}
	// A proof has one spelling, the one Signer makes: the ledgers keep one request
	// per proof by its text, so no other spelling of the same signed request (padding,
	// whitespace, key order, escapes) may pass for a new one.
	if canon, err := json.Marshal(p); err != nil || !bytes.Equal(canon, raw) {
		return wireProof{}, refuse(ReasonMalformed, "the proof is not in its canonical encoding")
	}
	return p, nil
}

// checkTarget checks the method and URL against the verifier's endpoint.
func checkTarget(p wireProof, endpoint *url.URL) error {
	if p.Method != http.MethodPost {
		return refuse(ReasonMalformed, "the signed request's method is not POST")
	}
	u, err := url.Parse(p.URL)
	if err != nil || u.Opaque != "" || u.User != nil || u.Fragment != "" {
		return refuse(ReasonMalformed, "the signed request's url is not a plain URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return refuse(ReasonWrongEndpoint, "the signed request's url is not http or https")
	}
	if !strings.EqualFold(u.Host, endpoint.Host) {
		return refuse(ReasonWrongEndpoint, "the signed request is addressed to another host than the verifier's STS endpoint")
	}
	if u.Path != "/" || u.RawPath != "" {
		return refuse(ReasonWrongEndpoint, "the signed request's path is not /")
	}
	if u.RawQuery != "" || u.ForceQuery {
		return refuse(ReasonWrongAction, "the signed request has a query string")
	}
	return nil
}

// checkBody accepts exactly the GetCallerIdentity form.
func checkBody(body string) error {
	if body == stsBody {
		return nil
	}
	if _, err := url.ParseQuery(body); err != nil {
		return refuse(ReasonMalformed, "the signed request's body is not a form")
	}
	return refuse(ReasonWrongAction, "the signed request is not exactly sts:GetCallerIdentity (another action or extra parameters)")
}

// canonicalHeaders returns the proof's headers with canonical names, refusing
// repeated names, repeated values and anything HTTP would not carry as is.
func canonicalHeaders(in map[string][]string) (http.Header, error) {
	out := make(http.Header, len(in))
	for name, values := range in {
		if !validHeaderName(name) {
			return nil, refuse(ReasonMalformed, "the signed request has an invalid header name")
		}
		key := http.CanonicalHeaderKey(name)
		if _, dup := out[key]; dup || len(values) != 1 {
			return nil, refuse(ReasonMalformed, "the signed request repeats a header ("+key+")")
		}
		if !validHeaderValue(values[0]) {
			return nil, refuse(ReasonMalformed, "the signed request's "+key+" header has control characters")
		}
		out[key] = values
	}
	return out, nil
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b, Signature=HEX".
func parseAuthorization(h string) (authorization, error) {
	bad := func(what string) (authorization, error) {
		return authorization{}, refuse(ReasonMalformed, "the signed request's Authorization header "+what)
	}
	if h == "" {
		return bad("is missing")
	}
	rest, ok := strings.CutPrefix(h, signingAlgo+" ")
	if !ok {
		return bad("is not " + signingAlgo)
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if _, dup := fields[k]; !ok || dup {
			return bad("is not Credential, SignedHeaders and Signature")
		}
		fields[k] = val
	}
	if len(fields) != 3 || fields["Credential"] == "" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return bad("is not Credential, SignedHeaders and Signature")
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" || !isDigits(scope[1], 8) || scope[2] == "" || scope[3] == "" || scope[4] != scopeTerminal {
		return bad("has a malformed credential scope")
	}
	if !isLowerHex(fields["Signature"], 64) {
		return bad("has a malformed signature")
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !slices.IsSorted(signed) || slices.Contains(signed, "") || len(slices.Compact(slices.Clone(signed))) != len(signed) {
		return bad("has a malformed SignedHeaders list")
	}
	for _, s := range signed {
		if s != strings.ToLower(s) || !validHeaderName(s) || s == "authorization" {
			return bad("has a malformed SignedHeaders list")
		}
	}
	return authorization{date: scope[1], region: scope[2], service: scope[3], signedHeaders: signed}, nil
}

// signedHeaders checks that the signature covers what the binding needs and that
// every signed header is present, and returns the headers to forward.
func signedHeaders(headers http.Header, auth authorization, p wireProof, endpoint *url.URL) (http.Header, error) {
	for _, need := range []string{"host", "x-amz-date", "x-ffb-server-id", "x-ffb-request-digest"} {
		if !slices.Contains(auth.signedHeaders, need) {
			return nil, refuse(ReasonMalformed, "the proof's signature does not cover the "+http.CanonicalHeaderKey(need)+" header")
		}
	}
	if h, ok := headers[hdrHost]; ok && !strings.EqualFold(h[0], endpoint.Host) {
		return nil, refuse(ReasonWrongEndpoint, "the signed request's Host header names another host than the verifier's STS endpoint")
	}
	if h, ok := headers[hdrContentLength]; ok && h[0] != strconv.Itoa(len(p.Body)) {
		return nil, refuse(ReasonMalformed, "the signed request's Content-Length is not the length of its body")
	}
	fwd := http.Header{hdrAuthorization: headers[hdrAuthorization]}
	for _, name := range auth.signedHeaders {
		key := http.CanonicalHeaderKey(name)
		if key == hdrHost {
			continue // the forwarded request's Host is the verifier's endpoint
		}
		v, ok := headers[key]
		if !ok {
			return nil, refuse(ReasonMalformed, "the signed request lacks its signed "+key+" header")
		}
		if key != hdrContentLength { // set by the HTTP client from the body
			fwd[key] = v
		}
	}
	return fwd, nil
}

// checkDate checks X-Amz-Date against the scope's date, MaxAge and the clock.
func (v *Verifier) checkDate(h, scopeDate string) error {
	signed, err := time.Parse(amzDateFormat, h)
	if err != nil {
		return refuse(ReasonMalformed, "the signed request's X-Amz-Date is not "+amzDateFormat)
	}
	if signed.Format("20060102") != scopeDate {
		return refuse(ReasonMalformed, "the signed request's X-Amz-Date is not the day of its credential scope")
	}
	now := v.now()
	if age := now.Sub(signed); age > v.maxAge() {
		return refuse(ReasonStale, fmt.Sprintf("the proof is older than %s", v.maxAge()))
	}
	if signed.Sub(now) > maxFuture {
		return refuse(ReasonStale, fmt.Sprintf("the proof is dated more than %s in the future", maxFuture))
	}
	return nil
}

// validHeaderName reports whether s is an HTTP token.
func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s has no control characters (tab allowed).
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// isDigits reports whether s is n decimal digits.
func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isLowerHex reports whether s is n lower-case hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
