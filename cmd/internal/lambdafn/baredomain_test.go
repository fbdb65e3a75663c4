package lambdafn_test

import (
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
)

// A typed reason or comment that names a host without a scheme or "www." is still
// made a live link by Slack, Teams and mail clients (they link a bare domain such
// as sso-login.evil.com/okta): the defanging covers only "://" and "www.". What
// should hold: no typed host reaches chat or mail as a linkable name (the dots of a
// domain defanged, as "www." already is).
func TestTypedBareDomainIsNoLink(t *testing.T) {
	const typed = "dashboard broken, re-auth at sso-login.evil.com/okta first"
	n := sampleNotifications()[broker.NotifyDenied]
	n.Request.Reason, n.Request.Comment = typed, typed
	chat, mail := lambdafn.Messages(n)
	for _, label := range []string{"Reason", "Comment"} {
		if got := lineOf(chat.Content.Description, label); strings.Contains(got, "evil.com") {
			t.Errorf("chat line %s = %q; want the bare domain defanged (no \"evil.com\")", label, got)
		}
		if got := lineOf(mail, label); strings.Contains(got, "evil.com") {
			t.Errorf("mail line %s = %q; want the bare domain defanged (no \"evil.com\")", label, got)
		}
	}
}
