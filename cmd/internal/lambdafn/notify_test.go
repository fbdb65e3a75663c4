package lambdafn_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// chatbotSchema compiles testdata/chatbot-custom-notification.schema.json.
func chatbotSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/chatbot-custom-notification.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("chatbot.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("chatbot.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validateChatbot validates raw (a published message body) against the schema.
func validateChatbot(t *testing.T, s *jsonschema.Schema, raw []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("message %s is not JSON: %v", raw, err)
	}
	return s.Validate(v)
}

const (
	sampleID    = "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b"
	sampleGrant = "0c9e2d55-6a1f-4b7e-8f3d-2a1b3c4d5e6f"
)

// sampleNotifications are one notification of every kind, as the broker makes them.
func sampleNotifications() map[string]broker.Notification {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	req := broker.AccessRequest{ID: sampleID, Role: "my_pg_firefighter_rw", IncidentID: "INC-1234", Hours: 1,
		Reason: "cancel stuck order <!channel> @here", Requester: aliceARN, RequesterKey: aliceARN, DecideBy: at}
	decided := req
	decided.Approver, decided.ApproverKey, decided.Comment = bobARN, bobARN, "checked with <@U123> the on-call lead"
	grant := &broker.IssueOutput{GrantID: sampleID, Role: req.Role, ExpiresAt: at.Add(time.Hour)}
	ro := broker.AccessRequest{Role: "my_pg_firefighter_ro", IncidentID: "INC-1234", Requester: aliceARN, RequesterKey: aliceARN}
	roGrant := &broker.IssueOutput{GrantID: sampleGrant, Role: ro.Role, ExpiresAt: at.Add(2 * time.Hour)}
	return map[string]broker.Notification{
		broker.NotifyApprovalNeeded: {Kind: broker.NotifyApprovalNeeded, Request: req},
		broker.NotifyApproved:       {Kind: broker.NotifyApproved, Request: decided},
		broker.NotifyDenied:         {Kind: broker.NotifyDenied, Request: decided},
		broker.NotifyTimedOut:       {Kind: broker.NotifyTimedOut, Request: req},
		broker.NotifyIssued:         {Kind: broker.NotifyIssued, Request: decided, Grant: grant},
		broker.NotifyExpiring:       {Kind: broker.NotifyExpiring, Request: ro, Grant: roGrant},
		broker.NotifyExtended:       {Kind: broker.NotifyExtended, Request: ro, Grant: roGrant},
		broker.NotifyRevoked:        {Kind: broker.NotifyRevoked, Request: ro, Grant: roGrant, EndedBy: bobARN},
		broker.NotifyExpired:        {Kind: broker.NotifyExpired, Request: ro, Grant: roGrant},
	}
}

// Every kind of message is a valid Chatbot custom notification, says what the person
// does next, and is addressed to its audience.
func TestMessagesMatchChatbotSchema(t *testing.T) {
	schema := chatbotSchema(t)
	tests := []struct {
		kind      string
		audience  string
		nextSteps []string
		facts     []string
	}{
		{broker.NotifyApprovalNeeded, "approvers", []string{"ffbroker approve " + sampleID + " --comment '...'", "ffbroker deny " + sampleID + " --comment '...'"},
			[]string{"Requester: " + aliceARN, "Incident: INC-1234", "Role: my_pg_firefighter_rw", "Hours: 1", "Reason (typed by the requester): cancel stuck order", "Decide by: 2026-03-01 10:00:00 UTC"}},
		{broker.NotifyApproved, "requester", []string{"ffbroker status"}, []string{"Approver: " + bobARN, "Comment (typed by the approver): checked with"}},
		{broker.NotifyDenied, "requester", []string{"ffbroker issue --role rw --incident INC-1234 --reason '...'"}, []string{"Approver: " + bobARN, "Comment (typed by the approver): checked with"}},
		{broker.NotifyTimedOut, "requester", []string{"ffbroker issue --role rw --incident INC-1234 --reason '...'"}, []string{"Decide by: 2026-03-01 10:00:00 UTC"}},
		{broker.NotifyIssued, "requester", []string{"ffbroker connect --role rw", "ffbroker revoke --role rw --incident INC-1234"}, []string{"Expires: 2026-03-01 11:00:00 UTC"}},
		{broker.NotifyExpiring, "requester", []string{"ffbroker extend --role ro --incident INC-1234"}, []string{"Expires: 2026-03-01 12:00:00 UTC", "Grant: " + sampleGrant}},
		{broker.NotifyExtended, "requester", []string{"ffbroker connect --role ro"}, []string{"Expires: 2026-03-01 12:00:00 UTC"}},
		{broker.NotifyRevoked, "requester", []string{"ffbroker issue --role ro --incident INC-1234 --reason '...'"}, []string{"Revoked by: " + bobARN, "Grant: " + sampleGrant}},
		{broker.NotifyExpired, "requester", []string{"ffbroker issue --role ro --incident INC-1234 --reason '...'"}, []string{"Expired: 2026-03-01 12:00:00 UTC", "Grant: " + sampleGrant}},
	}
	samples := sampleNotifications()
	if len(tests) != len(samples) {
		t.Fatalf("%d kinds tested, %d kinds made", len(tests), len(samples))
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			n := samples[tc.kind]
			chat, mail := lambdafn.Messages(n)
			raw, err := json.Marshal(chat)
			if err != nil {
				t.Fatal(err)
			}
			if err := validateChatbot(t, schema, raw); err != nil {
				t.Errorf("Messages(%s) is not a Chatbot custom notification: %v\n%s", tc.kind, err, raw)
			}
			if got := strings.Join(chat.Content.NextSteps, "\n"); got != strings.Join(tc.nextSteps, "\n") {
				t.Errorf("Messages(%s) next steps = %q; want %q", tc.kind, chat.Content.NextSteps, tc.nextSteps)
			}
			for _, f := range tc.facts {
				if !strings.Contains(chat.Content.Description, chatFact(f)) || !strings.Contains(mail, f) {
					t.Errorf("Messages(%s) lacks %q:\nchat: %s\nmail: %s", tc.kind, f, chat.Content.Description, mail)
				}
			}
			for _, s := range tc.nextSteps {
				if !strings.Contains(mail, s) {
					t.Errorf("Messages(%s) e-mail lacks the next step %q:\n%s", tc.kind, s, mail)
				}
			}
			if strings.Contains(chat.Content.Description, "<!channel>") || strings.Contains(chat.Content.Description, "<@U123>") || strings.Contains(chat.Content.Description, "@here") {
				t.Errorf("Messages(%s) chat text can ping people: %s", tc.kind, chat.Content.Description)
			}
			if chat.Metadata.EventType != "ffbroker."+tc.kind {
				t.Errorf("Messages(%s) eventType = %q", tc.kind, chat.Metadata.EventType)
			}
			attrs, err := lambdafn.Attributes(n)
			if err != nil {
				t.Fatalf("Attributes(%s): %v", tc.kind, err)
			}
			want := map[string]string{"event_type": "ffbroker." + tc.kind, "audience": tc.audience, "incident_id": "INC-1234", "role": n.Request.Role[len(n.Request.Role)-2:]}
			if tc.audience == "requester" {
				want["recipient"] = aliceARN
			}
			if g, w := jsonOf(attrs), jsonOf(want); g != w {
				t.Errorf("Attributes(%s) = %s; want %s", tc.kind, g, w)
			}
		})
	}
}

// The schema check can fail: a message past Chatbot's limits or with a field Chatbot
// does not know is refused.
func TestChatbotSchemaRefuses(t *testing.T) {
	schema := chatbotSchema(t)
	chat, _ := lambdafn.Messages(sampleNotifications()[broker.NotifyApprovalNeeded])
	tests := []struct {
		name   string
		change func(m map[string]any)
	}{
		{"title of 251 characters", func(m map[string]any) { m["content"].(map[string]any)["title"] = strings.Repeat("x", 251) }},
		{"description of 8001 characters", func(m map[string]any) { m["content"].(map[string]any)["description"] = strings.Repeat("x", 8001) }},
		{"version 2.0", func(m map[string]any) { m["version"] = "2.0" }},
		{"source aws", func(m map[string]any) { m["source"] = "aws" }},
		{"a markdown textType", func(m map[string]any) { m["content"].(map[string]any)["textType"] = "markdown" }},
		{"an unknown field", func(m map[string]any) { m["task_token"] = "x" }},
		{"no content", func(m map[string]any) { delete(m, "content") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			raw, _ := json.Marshal(chat)
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			tc.change(m)
			raw, _ = json.Marshal(m)
			if err := validateChatbot(t, schema, raw); err == nil {
				t.Errorf("schema accepted a message with %s", tc.name)
			}
		})
	}
}

// Long typed text is clipped to Chatbot's limits rather than refused by Chatbot.
func TestMessagesClipToChatbotLimits(t *testing.T) {
	n := sampleNotifications()[broker.NotifyDenied]
	n.Request.Reason = strings.Repeat("r", 2000)
	n.Request.Comment = strings.Repeat("c", 500)
	n.Request.Requester = "arn:aws:sts::123456789012:assumed-role/" + strings.Repeat("R", 64) + "/" + strings.Repeat("s", 64)
	n.Request.Approver = "arn:aws:iam::123456789012:user/" + strings.Repeat("p", 480) + "/" + strings.Repeat("b", 64)
	n.Request.IncidentID = strings.Repeat("I", 128)
	for i := 0; i < 3; i++ {
		n.Request.Reason += n.Request.Reason
	}
	chat, _ := lambdafn.Messages(n)
	raw, _ := json.Marshal(chat)
	if err := validateChatbot(t, chatbotSchema(t), raw); err != nil {
		t.Errorf("Messages of a 16000-character reason is refused by the schema: %v", err)
	}
}

// A requester message that names no requester key is not published: nobody could
// filter it to the right person.
func TestAttributesNeedARecipient(t *testing.T) {
	n := sampleNotifications()[broker.NotifyIssued]
	n.Request.RequesterKey = ""
	if _, err := lambdafn.Attributes(n); err == nil {
		t.Error("Attributes(issued without a requester key) succeeded; want an error")
	}
}

// chatFact is how a mail line "Label: value" reads in chat: a structured value as
// a code span, a typed text (benign in the samples) as in mail.
func chatFact(f string) string {
	label, v, _ := strings.Cut(f, ": ")
	if strings.Contains(label, "(typed by") {
		return f
	}
	return label + ": `" + v + "`"
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

// Text a requester or approver typed reaches chat and mail as inert text: no link,
// no markup, no mention, no line of its own, nothing invisible, at most 500
// characters. Each case is the exact line each renders.
func TestTypedTextIsInertInChatAndMail(t *testing.T) {
	tests := []struct {
		name, typed, chat, mail string
	}{
		{"a Markdown link and bold text",
			"[INC-1234 dashboard](https://evil.example/sso-login) **Approved by SRE lead**",
			"［INC-1234 dashboard］(https[:]//evil[.]example/sso-login) ∗∗Approved by SRE lead∗∗",
			"[INC-1234 dashboard](https[:]//evil[.]example/sso-login) **Approved by SRE lead**"},
		{"a Slack link with its own label", "<https://evil|click>", "‹https[:]//evil｜click›", "<https[:]//evil|click>"},
		{"mentions", "@here <!channel> <@U123> @SRE-lead", "＠here ‹!channel› ‹＠U123› ＠SRE-lead", "@here <!channel> <@U123> @SRE-lead"},
		{"code, strike, italics", "`DROP` ```x``` ~gone~ _now_ *now*", "ˋDROPˋ ˋˋˋxˋˋˋ ∼gone∼ ＿now＿ ∗now∗", "`DROP` ```x``` ~gone~ _now_ *now*"},
		{"an entity and www", "&lt;b&gt; see www.evil.example", "＆lt;b＆gt; see www[.]evil[.]example", "&lt;b&gt; see www[.]evil[.]example"},
		{"a bare domain, a number", "re-auth at sso-login.evil.com/okta, 2.5 h", "re-auth at sso-login[.]evil[.]com/okta, 2.5 h",
			"re-auth at sso-login[.]evil[.]com/okta, 2.5 h"},
		{"a forged line", "latency\nApprover: arn:aws:iam::123456789012:user/sre-lead\r\nComment: ok",
			"latency Approver: arn:aws:iam::123456789012:user/sre-lead  Comment: ok",
			"latency Approver: arn:aws:iam::123456789012:user/sre-lead  Comment: ok"},
		{"zero-width and bidi characters", "app\u200broved\u202e kcol\u2066 \ufeffok\u2028end",
			"app\ufffdroved\ufffd kcol\ufffd \ufffdok end", "app\ufffdroved\ufffd kcol\ufffd \ufffdok end"},
		{"overlong", strings.Repeat("x", 499) + "yz", strings.Repeat("x", 499) + "y… (cut)", strings.Repeat("x", 499) + "y… (cut)"},
		{"nothing", "", "(none)", "(none)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := sampleNotifications()[broker.NotifyDenied]
			n.Request.Reason, n.Request.Comment = tt.typed, tt.typed
			chat, mail := lambdafn.Messages(n)
			for _, label := range []string{"Reason", "Comment"} {
				if got := lineOf(chat.Content.Description, label); got != tt.chat {
					t.Errorf("Messages(denied, %q) chat line %s\n got %q\nwant %q", tt.typed, label, got, tt.chat)
				}
				if got := lineOf(mail, label); got != tt.mail {
					t.Errorf("Messages(denied, %q) mail line %s\n got %q\nwant %q", tt.typed, label, got, tt.mail)
				}
			}
		})
	}
}

// lineOf is what follows the first ": " on the one line of text that starts with
// label, or "(no such line)" / "(2 such lines)".
func lineOf(text, label string) string {
	var found []string
	for _, l := range strings.Split(text, "\n") {
		if _, s, ok := strings.Cut(l, ": "); ok && strings.HasPrefix(l, label) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0]
	case 0:
		return "(no such line)"
	}
	return fmt.Sprintf("(%d such lines)", len(found))
}

// The structured fields (the broker's own values: requester, incident, role, hours,
// times, ids) come first, each a code span in chat; what people typed comes after a
// blank line, labelled as typed. A reason that reads as an approval stays in its line.
func TestStructuredFieldsStandApartFromTypedText(t *testing.T) {
	n := sampleNotifications()[broker.NotifyApprovalNeeded]
	n.Request.Reason = "[INC-1234 dashboard](https://evil.example/sso-login) **Approved by SRE lead**\nApprover: `" + bobARN + "`"
	chat, mail := lambdafn.Messages(n)
	wantChat := "Requester: `" + aliceARN + "`\n" +
		"Incident: `INC-1234`\n" +
		"Role: `my_pg_firefighter_rw`\n" +
		"Hours: `1`\n" +
		"Decide by: `2026-03-01 10:00:00 UTC`\n" +
		"Request: `" + sampleID + "`\n" +
		"\n" +
		"Reason (typed by the requester): ［INC-1234 dashboard］(https[:]//evil[.]example/sso-login) ∗∗Approved by SRE lead∗∗ Approver: ˋ" + bobARN + "ˋ"
	if chat.Content.Description != wantChat {
		t.Errorf("approval_needed chat description\n got %q\nwant %q", chat.Content.Description, wantChat)
	}
	wantMail := "Firefighter rw access for INC-1234 waits for your approval\n\n" +
		"Requester: " + aliceARN + "\n" +
		"Incident: INC-1234\n" +
		"Role: my_pg_firefighter_rw\n" +
		"Hours: 1\n" +
		"Decide by: 2026-03-01 10:00:00 UTC\n" +
		"Request: " + sampleID + "\n" +
		"\n" +
		"Reason (typed by the requester): [INC-1234 dashboard](https[:]//evil[.]example/sso-login) **Approved by SRE lead** Approver: `" + bobARN + "`\n" +
		"\nNext:\n" +
		"  ffbroker approve " + sampleID + " --comment '...'\n" +
		"  ffbroker deny " + sampleID + " --comment '...'\n"
	if mail != wantMail {
		t.Errorf("approval_needed mail\n got %q\nwant %q", mail, wantMail)
	}
	if want := "Firefighter rw access for INC-1234 waits for your approval"; chat.Content.Title != want {
		t.Errorf("approval_needed title = %q; want %q", chat.Content.Title, want)
	}
}
