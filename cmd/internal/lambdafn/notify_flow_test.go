package lambdafn_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
)

// mailbox is an SQS queue subscribed to the flow's topic with a filter policy on the
// message attributes, as a person's e-mail or a chat channel is.
type mailbox struct {
	f    *flow
	name string
	url  string
}

// received is one notification as a subscriber gets it.
type received struct {
	raw   string
	chat  lambdafn.ChatbotMessage
	attrs map[string]string
}

// mailbox subscribes a new queue called name with filter ("" for none).
func (f *flow) mailbox(t *testing.T, name, filter string) *mailbox {
	t.Helper()
	ctx := context.Background()
	q, err := f.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := f.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	sub := map[string]string{"RawMessageDelivery": "true"}
	if filter != "" {
		sub["FilterPolicy"] = filter
	}
	if _, err := sns.NewFromConfig(f.srv.Config(ctx)).Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(f.topic), Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes["QueueArn"]), Attributes: sub}); err != nil {
		t.Fatal(err)
	}
	return &mailbox{f: f, name: name, url: aws.ToString(q.QueueUrl)}
}

// take returns what arrived since the last take (moto delivers during Publish).
func (m *mailbox) take(t *testing.T) []received {
	t.Helper()
	var got []received
	for {
		out, err := m.f.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(m.url),
			MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return got
		}
		for _, msg := range out.Messages {
			r := received{raw: aws.ToString(msg.Body), attrs: map[string]string{}}
			if err := json.Unmarshal([]byte(r.raw), &r.chat); err != nil {
				t.Fatalf("%s received %q: not a Chatbot custom notification: %v", m.name, r.raw, err)
			}
			for k, v := range msg.MessageAttributes {
				r.attrs[k] = aws.ToString(v.StringValue)
			}
			got = append(got, r)
			if _, err := m.f.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(m.url), ReceiptHandle: msg.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// expect takes what arrived and checks it is exactly the kinds listed, in order.
func (m *mailbox) expect(t *testing.T, step string, kinds ...string) []received {
	t.Helper()
	got := m.take(t)
	var names []string
	for _, r := range got {
		names = append(names, strings.TrimPrefix(r.chat.Metadata.EventType, "ffbroker."))
	}
	if strings.Join(names, ",") != strings.Join(kinds, ",") {
		t.Errorf("after %s, %s received %v; want %v", step, m.name, names, kinds)
	}
	return got
}

// superQuery runs sql as the bootstrap superuser in the flow's database and returns
// the first column of every row.
func (f *flow) superQuery(t *testing.T, sql string, args ...any) []string {
	t.Helper()
	c, err := shared.Cluster.ConnectSuper(context.Background(), f.names.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	rows, err := c.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s *string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		if s != nil {
			out = append(out, *s)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sweep runs the scheduled sweep through the expire function.
func (f *flow) sweep(t *testing.T) broker.SweepOutput {
	t.Helper()
	out, err := lambdafn.NewExpireHandler(f.expire).Handle(context.Background(), readEvent(t, "expire-schedule.json"))
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	return out.(broker.SweepOutput)
}

const carolARN = "arn:aws:iam::123456789012:user/carol"

// Every notification of the approval flow and of the sweep reaches the people it is
// for, through SQS queues subscribed with the filter policies the README gives, once
// each, and carries nothing secret.
func TestNotificationsReachTheirAudience(t *testing.T) {
	ctx := context.Background()
	schema := chatbotSchema(t)
	f := newFlowWith(t, "nt_ok", 3600, map[string]string{"FFB_EXPIRY_WARNING": "2h"})
	channel := f.mailbox(t, "channel", "")
	approvers := f.mailbox(t, "approvers", `{"audience":["approvers"]}`)
	alice := f.mailbox(t, "alice", `{"recipient":["`+aliceARN+`"]}`)
	carol := f.mailbox(t, "carol", `{"recipient":["`+carolARN+`"]}`)
	var all []received

	id, arn := f.submit(t, "alice", "INC-N1")
	in := f.scheduled(t, arn, "await")
	token := f.await(t, arn)
	// A retried wait step (Step Functions retries on a Lambda error) tells nobody again.
	if _, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, in); err != nil {
		t.Fatalf("wait step again: %v", err)
	}
	got := approvers.expect(t, "the wait step, twice", broker.NotifyApprovalNeeded)
	if len(got) == 1 {
		if got[0].attrs["audience"] != "approvers" || got[0].attrs["event_type"] != "ffbroker.approval_needed" || got[0].attrs["role"] != "rw" || got[0].attrs["incident_id"] != "INC-N1" {
			t.Errorf("approval_needed attributes = %v", got[0].attrs)
		}
		if _, ok := got[0].attrs["recipient"]; ok {
			t.Errorf("approval_needed names a recipient: %v", got[0].attrs)
		}
		if steps := strings.Join(got[0].chat.Content.NextSteps, "\n"); !strings.Contains(steps, "ffbroker approve "+id+" --comment") || !strings.Contains(steps, "ffbroker deny "+id+" --comment") {
			t.Errorf("approval_needed next steps = %q; want the approve and deny commands of %s", steps, id)
		}
	}
	alice.expect(t, "the wait step")

	if status, body := f.decide(t, "bob", id, "approve"); status != 200 {
		t.Fatalf("bob approves = %d %v", status, body)
	}
	got = alice.expect(t, "bob's approval", broker.NotifyApproved)
	if len(got) == 1 && (!strings.Contains(got[0].chat.Content.Description, "Approver: `"+bobARN+"`") || !strings.Contains(got[0].chat.Content.Description, "Comment (typed by the approver): checked")) {
		t.Errorf("approved description = %q; want bob and his comment", got[0].chat.Content.Description)
	}
	approvers.expect(t, "bob's approval")

	step := f.scheduled(t, arn, "issue")
	for i := 0; i < 2; i++ { // the second is a retried issue step
		if _, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, step); err != nil {
			t.Fatalf("issue step %d: %v", i+1, err)
		}
	}
	got = alice.expect(t, "the issue step, twice", broker.NotifyIssued)
	if len(got) == 1 && (!strings.Contains(got[0].chat.Content.Description, "Expires: ") || got[0].chat.Content.NextSteps[0] != "ffbroker connect --role rw") {
		t.Errorf("issued = %+v; want the expiry and the connect command", got[0].chat.Content)
	}

	// Read-only access is answered at once and announced to nobody; its expiry is.
	out, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, f.signed(t, "alice", "issue-api-ro.json"))
	if err != nil {
		t.Fatal(err)
	}
	if status, body := apiAnswer(t, out); status != 201 {
		t.Fatalf("POST /access ro = %d %v", status, body)
	}
	alice.expect(t, "a read-only issue")

	if s := f.sweep(t); len(s.Warned) != 2 {
		t.Errorf("first sweep warned %v; want both live grants (window 2h)", s.Warned)
	}
	got = alice.expect(t, "the first sweep", broker.NotifyExpiring, broker.NotifyExpiring)
	for _, r := range got {
		if !strings.HasPrefix(r.chat.Content.NextSteps[0], "ffbroker extend --role ") || r.attrs["recipient"] != aliceARN {
			t.Errorf("expiring = %v %+v; want alice's extend command", r.attrs, r.chat.Content)
		}
	}
	if s := f.sweep(t); len(s.Warned) != 0 {
		t.Errorf("second sweep warned %v; want none (each grant is warned once)", s.Warned)
	}
	alice.expect(t, "the second sweep")

	// The rw grant's expiry moves later, as an extension moves it: warned again.
	f.superQuery(t, `UPDATE db_admin.firefighter_grant SET expires_at = expires_at + interval '10 minutes' WHERE grant_id = $1 RETURNING grant_id::text`, id)
	if s := f.sweep(t); len(s.Warned) != 1 || s.Warned[0] != id {
		t.Errorf("sweep after the expiry moved warned %v; want [%s]", s.Warned, id)
	}
	alice.expect(t, "the sweep after the expiry moved", broker.NotifyExpiring)
	approvers.expect(t, "the sweeps")
	carol.expect(t, "the whole flow")

	all = channel.expect(t, "the whole flow", broker.NotifyApprovalNeeded, broker.NotifyApproved, broker.NotifyIssued,
		broker.NotifyExpiring, broker.NotifyExpiring, broker.NotifyExpiring)
	secrets := []string{token}
	for _, role := range []string{f.names.FirefighterRO, f.names.FirefighterRW} {
		v, ref, err := f.issue.Secrets.Current(ctx, role)
		if err != nil || v.Password.Len() < 32 {
			t.Fatalf("secret of %s: %v", role, err)
		}
		secrets = append(secrets, v.Password.Reveal(), ref.ARN)
	}
	secrets = append(secrets, f.superQuery(t, `SELECT requester_proof FROM db_admin.firefighter_request UNION ALL SELECT approver_proof FROM db_admin.firefighter_approval`)...)
	if len(secrets) < 6 {
		t.Fatalf("only %d secret values to look for", len(secrets))
	}
	for _, r := range all {
		if err := validateChatbot(t, schema, []byte(r.raw)); err != nil {
			t.Errorf("%s received is not a Chatbot custom notification: %v", r.chat.Metadata.EventType, err)
		}
		for _, s := range secrets {
			if strings.Contains(r.raw, s) || (len(s) > 80 && strings.Contains(r.raw, s[len(s)/2:len(s)/2+40])) {
				t.Errorf("%s carries a password, secret ARN, task token or identity proof: %s", r.chat.Metadata.EventType, r.raw)
			}
		}
		for _, word := range []string{"secret_arn", "secret_version", "task_token", "password"} {
			if strings.Contains(strings.ToLower(r.raw), word) {
				t.Errorf("%s mentions %s: %s", r.chat.Metadata.EventType, word, r.raw)
			}
		}
	}
}

// A denial and a timeout reach the requester only, once, with the approver's comment.
func TestNotificationsOfDenialAndTimeout(t *testing.T) {
	ctx := context.Background()
	t.Run("denied", func(t *testing.T) {
		f := newFlow(t, "nt_deny", 3600)
		approvers := f.mailbox(t, "approvers", `{"audience":["approvers"]}`)
		alice := f.mailbox(t, "alice", `{"recipient":["`+aliceARN+`"]}`)
		id, arn := f.submit(t, "alice", "INC-N2")
		f.await(t, arn)
		approvers.expect(t, "the wait step", broker.NotifyApprovalNeeded)
		for i := 0; i < 2; i++ { // the second is bob's retried call
			if status, body := f.decide(t, "bob", id, "deny"); status != 200 {
				t.Fatalf("bob denies = %d %v", status, body)
			}
		}
		got := alice.expect(t, "bob's denial, twice", broker.NotifyDenied)
		if len(got) == 1 && (!strings.Contains(got[0].chat.Content.Description, "Comment (typed by the approver): checked") || got[0].attrs["recipient"] != aliceARN) {
			t.Errorf("denied = %v %q; want alice's, with bob's comment", got[0].attrs, got[0].chat.Content.Description)
		}
		approvers.expect(t, "bob's denial")
	})
	t.Run("timed out", func(t *testing.T) {
		f := newFlow(t, "nt_late", 1)
		approvers := f.mailbox(t, "approvers", `{"audience":["approvers"]}`)
		alice := f.mailbox(t, "alice", `{"recipient":["`+aliceARN+`"]}`)
		id, arn := f.submit(t, "alice", "INC-N3")
		f.await(t, arn)
		approvers.expect(t, "the wait step", broker.NotifyApprovalNeeded)
		step := f.scheduled(t, arn, "timeout")
		// The workflow waited 1 s; the ledger's window (the admin's 3600 s) closes too,
		// as it would have by the time a real workflow's wait times out.
		f.superQuery(t, `UPDATE db_admin.firefighter_request SET decide_by = created_at + interval '1 millisecond' WHERE request_id = $1 RETURNING request_id::text`, id)
		for i := 0; i < 2; i++ { // the second is a retried timeout step
			if _, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, step); err != nil {
				t.Fatalf("timeout step %d: %v", i+1, err)
			}
		}
		got := alice.expect(t, "the timeout step, twice", broker.NotifyTimedOut)
		if len(got) == 1 && !strings.Contains(got[0].chat.Content.NextSteps[0], "ffbroker issue --role rw --incident INC-N3") {
			t.Errorf("timed_out next steps = %q; want how to ask again", got[0].chat.Content.NextSteps)
		}
		approvers.expect(t, "the timeout step")
	})
}

// A notification that cannot be published is logged and audited as a warning; the
// request, the decision and the issue go on.
func TestNotificationFailureIsAWarning(t *testing.T) {
	ctx := context.Background()
	f := newFlowWith(t, "nt_fail", 3600, map[string]string{"FFB_NOTIFY_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:no-such-topic"})
	id, arn := f.submit(t, "alice", "INC-N4")
	f.await(t, arn)
	if status, body := f.decide(t, "bob", id, "approve"); status != 200 || body["workflow_resumed"] != true {
		t.Fatalf("bob approves with the topic gone = %d %v; want 200, workflow resumed", status, body)
	}
	if _, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, f.scheduled(t, arn, "issue")); err != nil {
		t.Fatalf("issue step with the topic gone: %v", err)
	}
	var kinds []string
	for _, r := range f.audit.Records(t) {
		if r["event"] == "notification.failed" {
			if r["outcome"] != "warning" || r["access_request_id"] != id || r["error_code"] == "" {
				t.Errorf("notification.failed record = %v; want outcome warning for request %s with an error code", r, id)
			}
			kinds = append(kinds, strings.TrimSuffix(strings.TrimPrefix(r["message"].(string), "notification "), " not published"))
		}
	}
	if got := strings.Join(kinds, ","); got != "approval_needed,approved,issued" {
		t.Errorf("notification.failed records for %q; want approval_needed,approved,issued", got)
	}
	if f.rwGrants(t) != 1 {
		t.Error("no rw grant after notifications failed")
	}
}

// A revoke that ends one of two read-only grants tells that grant's requester, through
// the topic and the README's recipient filter, once; the other holder, whose grant
// stays live with a new password, is told nothing about an end.
func TestRevokedNoticeReachesOnlyTheEndedGrantsRequester(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "nt_rev", 3600)
	alice := f.mailbox(t, "alice-rev", `{"recipient":["`+aliceARN+`"]}`)
	carol := f.mailbox(t, "carol-rev", `{"recipient":["`+carolARN+`"]}`)
	ro := readEvent(t, "issue-api-ro.json")
	for who, incident := range map[string]string{"alice": "INC-RA", "carol": "INC-RC"} {
		body := `{"role": "ro", "incident_id": "` + incident + `", "hours": 1, "reason": "reading orders"}`
		if status, answer := f.call(t, who, withBody(t, ro, body)); status != 201 {
			t.Fatalf("POST /access ro for %s as %s = %d %v", incident, who, status, answer)
		}
	}
	revoke := strings.ReplaceAll(string(readEvent(t, "revoke-api.json")), "INC-1234", "INC-RC")
	out, err := lambdafn.NewExpireHandler(f.expire).Handle(ctx, f.sign(t, "carol", json.RawMessage(revoke)))
	if err != nil {
		t.Fatal(err)
	}
	status, body := apiAnswer(t, out)
	if status != 200 || body["all_grants_ended"] != false || body["password_rotated"] != true || body["grants_closed"] != 1.0 {
		t.Fatalf("DELETE /access/ro?incident_id=INC-RC as carol = %d %v; want 200, one grant closed, the password rotated", status, body)
	}
	got := carol.expect(t, "carol's revoke", broker.NotifyRevoked)
	if len(got) == 1 {
		r := got[0]
		if r.attrs["event_type"] != "ffbroker.revoked" || r.attrs["audience"] != "requester" || r.attrs["recipient"] != carolARN || r.attrs["incident_id"] != "INC-RC" {
			t.Errorf("revoked attributes = %v", r.attrs)
		}
		ended := body["ended_grants"].([]any)
		if !strings.Contains(r.chat.Content.Description, "Grant: `"+ended[0].(string)+"`") || !strings.Contains(r.chat.Content.Description, "Revoked by: `"+carolARN+"`") {
			t.Errorf("revoked description = %q; want the grant %v and who revoked", r.chat.Content.Description, ended)
		}
	}
	alice.expect(t, "carol's revoke")
}
