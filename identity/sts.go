package identity

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/ffbroker/ffbroker/broker/awsretry"
)

// maxAnswerSize bounds what Verify reads of an STS answer.
const maxAnswerSize = 64 << 10

// callerIdentity is the part of GetCallerIdentityResponse Verify uses.
type callerIdentity struct {
	Arn     string `xml:"GetCallerIdentityResult>Arn"`
	UserID  string `xml:"GetCallerIdentityResult>UserId"`
	Account string `xml:"GetCallerIdentityResult>Account"`
}

// stsError is the part of an STS ErrorResponse Verify uses: the code, where
// AWS puts it (ErrorResponse>Error) or where moto does (ErrorResponse>Errors>Error).
type stsError struct {
	Code       string `xml:"Error>Code"`
	NestedCode string `xml:"Errors>Error>Code"`
}

// forward sends the checked request to the verifier's STS endpoint and parses
// the answer.
func (v *Verifier) forward(ctx context.Context, sr signedRequest, endpoint *url.URL) (callerIdentity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint.String(), strings.NewReader(sr.body))
	if err != nil {
		return callerIdentity{}, &Error{Reason: ReasonUnavailable, Message: "cannot build the STS request", Err: err}
	}
	req.Header = sr.headers.Clone()
	req.Host = endpoint.Host
	resp, err := v.client().Do(req)
	if err != nil {
		return callerIdentity{}, &Error{Reason: ReasonUnavailable, Message: "sts is unreachable", Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerSize+1))
	if err != nil {
		return callerIdentity{}, &Error{Reason: ReasonUnavailable, Message: "cannot read the STS answer", Err: err}
	}
	if len(body) > maxAnswerSize {
		return callerIdentity{}, refuse(ReasonUnavailable, "the STS answer is too large")
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		var ci callerIdentity
		if err := xml.Unmarshal(body, &ci); err != nil || ci.Arn == "" {
			return callerIdentity{}, refuse(ReasonUnavailable, "sts answered something that is not a GetCallerIdentityResponse")
		}
		return ci, nil
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusForbidden:
		var se stsError
		_ = xml.Unmarshal(body, &se) // an unreadable error is still a refusal
		code := safeCode(se.Code + se.NestedCode)
		if awsretry.RetryableCode(code) {
			return callerIdentity{}, &Error{Reason: ReasonUnavailable, Message: "sts is throttling (" + code + ")", Err: errors.New(resp.Status)}
		}
		msg := "sts refused the proof"
		if code != "" {
			msg += " (" + code + ")"
		}
		return callerIdentity{}, &Error{Reason: ReasonRefused, Message: msg, Err: errors.New(resp.Status)}
	default:
		return callerIdentity{}, &Error{Reason: ReasonUnavailable, Message: "sts answered an unexpected status", Err: errors.New(resp.Status)}
	}
}

// safeCode returns an STS error code if it looks like one (letters, digits and
// dots, at most 64), else "": nothing else of an answer reaches a message.
func safeCode(code string) string {
	code = strings.TrimSpace(code)
	if len(code) > 64 {
		return ""
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.') {
			return ""
		}
	}
	return code
}
