package lambdafn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/ffbroker/ffbroker/broker"
)

// Publisher is the SNS call notifications need.
type Publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Notifier publishes notifications to an SNS topic: an AWS Chatbot custom
// notification (rendered in Slack and Microsoft Teams) for every protocol, and plain
// text for e-mail, with message attributes that subscriptions filter on (see
// Attributes). No task token, proof, secret or password is ever in one.
type Notifier struct {
	sns   Publisher
	topic string
}

// NewNotifier returns a notifier publishing to topic.
func NewNotifier(p Publisher, topic string) *Notifier { return &Notifier{sns: p, topic: topic} }

// Audiences of a notification (the audience message attribute).
const (
	// AudienceApprovers are the people who may decide a request.
	AudienceApprovers = "approvers"
	// AudienceRequester is the person who asked for access.
	AudienceRequester = "requester"
)

// Chatbot's limits (testdata/chatbot-custom-notification.schema.json).
const (
	maxTitle       = 250
	maxDescription = 8000
)

// ChatbotMessage is AWS Chatbot's custom notification schema (version 1.0).
type ChatbotMessage struct {
	Version  string          `json:"version"`
	Source   string          `json:"source"`
	ID       string          `json:"id,omitempty"`
	Content  ChatbotContent  `json:"content"`
	Metadata ChatbotMetadata `json:"metadata"`
}

// ChatbotContent is the visible part of a Chatbot custom notification.
type ChatbotContent struct {
	TextType    string   `json:"textType"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	NextSteps   []string `json:"nextSteps,omitempty"`
	Keywords    []string `json:"keywords,omitempty"`
}

// ChatbotMetadata threads and summarises a Chatbot custom notification.
type ChatbotMetadata struct {
	ThreadID            string            `json:"threadId"`
	Summary             string            `json:"summary"`
	EventType           string            `json:"eventType"`
	AdditionalContext   map[string]string `json:"additionalContext,omitempty"`
	EnableCustomActions bool              `json:"enableCustomActions"`
}

// Audience returns who a notification of kind is for.
func Audience(kind string) string {
	if kind == broker.NotifyApprovalNeeded {
		return AudienceApprovers
	}
	return AudienceRequester
}

// Attributes are the SNS message attributes of n, for subscription filter policies:
// event_type (ffbroker.<kind>), audience (approvers | requester), recipient (the
// requester's principal key, on requester messages only), role (ro | rw) and
// incident_id. A requester message without a requester key is an error: nobody could
// be addressed.
func Attributes(n broker.Notification) (map[string]string, error) {
	a := map[string]string{"event_type": "ffbroker." + n.Kind, "audience": Audience(n.Kind), "role": roleKind(n.Request.Role)}
	if n.Request.IncidentID != "" {
		a["incident_id"] = n.Request.IncidentID
	}
	if a["audience"] == AudienceRequester {
		if n.Request.RequesterKey == "" {
			return nil, errors.New("notify: a requester message without the requester's principal key")
		}
		a["recipient"] = n.Request.RequesterKey
	}
	return a, nil
}

// Notify publishes n.
func (s *Notifier) Notify(ctx context.Context, n broker.Notification) error {
	attrs, err := Attributes(n)
	if err != nil {
		return err
	}
	chat, mail := Messages(n)
	c, err := json.Marshal(chat)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(map[string]string{"default": string(c), "email": mail})
	if err != nil {
		return err
	}
	values := map[string]snstypes.MessageAttributeValue{}
	for k, v := range attrs {
		values[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	_, err = s.sns.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(s.topic), MessageStructure: aws.String("json"),
		Message: aws.String(string(msg)), Subject: aws.String(subject(chat.Content.Title)), MessageAttributes: values})
	return err
}

// Messages renders n as a Chatbot custom notification and as plain text. The
// structured fields (requester, incident, role, hours, times, ids) come first, their
// values in chat as code spans; what a person typed (reason, comment) comes last,
// labelled as typed, on one line each, inert (see typedChat, typedMail).
func Messages(n broker.Notification) (ChatbotMessage, string) {
	r := n.Request
	kind := roleKind(r.Role)
	thread := or(r.ID, grantID(n))
	m := ChatbotMessage{Version: "1.0", Source: "custom", ID: thread + ":" + n.Kind,
		Metadata: ChatbotMetadata{ThreadID: thread, EventType: "ffbroker." + n.Kind,
			AdditionalContext: map[string]string{"role": r.Role, "audience": Audience(n.Kind)}}}
	if r.IncidentID != "" {
		m.Metadata.AdditionalContext["incident_id"] = r.IncidentID
	}
	if r.ID != "" {
		m.Metadata.AdditionalContext["request_id"] = r.ID
	}
	f := facts{personFact("Requester", r.Requester, r.RequesterKey), field("Incident", or(r.IncidentID, "(none)")), field("Role", r.Role)}
	if r.Hours > 0 {
		f = append(f, field("Hours", fmt.Sprint(r.Hours)))
	}
	var said facts
	switch n.Kind {
	case broker.NotifyExpiring, broker.NotifyExtended, broker.NotifyRevoked, broker.NotifyExpired:
	default:
		said = append(said, typed("Reason (typed by the requester)", r.Reason))
	}
	again := fmt.Sprintf("ffbroker issue --role %s --incident %s --reason '...'", kind, r.IncidentID)
	var title string // {incident} is where the incident id goes
	switch n.Kind {
	case broker.NotifyApprovalNeeded:
		title = "Firefighter " + kind + " access for {incident} waits for your approval"
		f = append(f, field("Decide by", when(r.DecideBy)))
		m.Content.NextSteps = []string{"ffbroker approve " + r.ID + " --comment '...'", "ffbroker deny " + r.ID + " --comment '...'"}
	case broker.NotifyApproved:
		title = "Your firefighter " + kind + " access for {incident} was approved"
		f = append(f, personFact("Approver", r.Approver, r.ApproverKey))
		said = append(said, typed("Comment (typed by the approver)", r.Comment))
		m.Content.NextSteps = []string{"ffbroker status"}
	case broker.NotifyDenied:
		title = "Your firefighter " + kind + " access for {incident} was denied"
		f = append(f, personFact("Approver", r.Approver, r.ApproverKey))
		said = append(said, typed("Comment (typed by the approver)", r.Comment))
		m.Content.NextSteps = []string{again}
	case broker.NotifyTimedOut:
		title = "Your firefighter " + kind + " access for {incident}: nobody approved in time"
		f = append(f, field("Decide by", when(r.DecideBy)))
		m.Content.NextSteps = []string{again}
	case broker.NotifyIssued:
		title = "Your firefighter " + kind + " access for {incident} is issued"
		f = append(f, field("Expires", when(expiry(n))))
		m.Content.NextSteps = []string{"ffbroker connect --role " + kind, fmt.Sprintf("ffbroker revoke --role %s --incident %s", kind, r.IncidentID)}
	case broker.NotifyExpiring:
		m.ID += ":" + fmt.Sprint(expiry(n).Unix())
		title = "Your firefighter " + kind + " access for {incident} ends at " + when(expiry(n))
		f = append(f, field("Expires", when(expiry(n))), field("Grant", grantID(n)))
		m.Content.NextSteps = []string{fmt.Sprintf("ffbroker extend --role %s --incident %s", kind, r.IncidentID)}
		switch end := n.LifetimeEnds; {
		case end.IsZero() || expiry(n).Add(2*time.Hour).Before(end):
		case !expiry(n).Before(end):
			title += ": its lifetime cap, it cannot be extended"
			f = append(f, field("Lifetime cap", "reached: extend is refused; ask again for new access"))
			m.Content.NextSteps = []string{again}
		default:
			f = append(f, field("Lifetime cap", "extensions end at "+when(end)+"; then ask again for new access"))
			m.Content.NextSteps = append(m.Content.NextSteps, again)
		}
	case broker.NotifyRevoked:
		title = "Your firefighter " + kind + " access for {incident} was revoked"
		f = append(f, field("Revoked by", or(n.EndedBy, "(unknown)")), field("Grant", grantID(n)))
		m.Content.NextSteps = []string{again}
	case broker.NotifyExpired:
		title = "Your firefighter " + kind + " access for {incident} has ended"
		f = append(f, field("Expired", when(expiry(n))), field("Grant", grantID(n)))
		m.Content.NextSteps = []string{again}
	case broker.NotifyExtended:
		m.ID += ":" + fmt.Sprint(expiry(n).Unix())
		title = "Your firefighter " + kind + " access for {incident} now ends at " + when(expiry(n))
		f = append(f, field("Expires", when(expiry(n))), field("Grant", grantID(n)))
		m.Content.NextSteps = []string{"ffbroker connect --role " + kind}
	default:
		title = "ffbroker: " + n.Kind
	}
	if r.ID != "" {
		f = append(f, field("Request", r.ID))
	}
	m.Content.TextType = "client-markdown"
	m.Content.Title = clip(strings.Replace(title, "{incident}", typedChat(r.IncidentID), 1), maxTitle)
	m.Content.Description = clip(f.render(true)+said.section(true), maxDescription)
	m.Content.Keywords = []string{kind, n.Kind}
	if r.IncidentID != "" {
		m.Content.Keywords = append([]string{typedChat(r.IncidentID)}, m.Content.Keywords...)
	}
	m.Metadata.Summary = m.Content.Title
	mail := strings.Replace(title, "{incident}", typedMail(r.IncidentID), 1) + "\n\n" + f.render(false) + said.section(false) + "\n"
	if len(m.Content.NextSteps) > 0 {
		mail += "\nNext:\n"
		for _, s := range m.Content.NextSteps {
			mail += "  " + s + "\n"
		}
	}
	return m, mail
}

// personFact names a verified caller as the two-person rule counts them: the ARN STS
// verified and, when it differs, the principal key. A session name of a role whose
// session names AWS does not enforce is whatever the caller chose: the key (the
// role, every session of it) is who it is. Names may hold "@" ([\w+=,.@-]).
func personFact(label, arn, key string) fact {
	var note func(chat bool) string
	switch {
	case key == "" || strings.EqualFold(key, arn):
		note = func(chat bool) string { return value(arn, chat) }
	case strings.HasPrefix(key, "session/"):
		note = func(chat bool) string { return value(arn, chat) + " (counts as " + value(key, chat) + ")" }
	default:
		note = func(chat bool) string {
			return value(arn, chat) + " (session name chosen by the caller; counts as " + value(key, chat) + ", every session of that role)"
		}
	}
	return fact{label: label, mail: note(false), chat: note(true)}
}

// fact is one "Label: value" line of a message, rendered for mail and for chat.
type fact struct {
	label, mail, chat string
}

// field is a structured fact: a value the broker made or checked.
func field(label, v string) fact {
	return fact{label: label, mail: value(v, false), chat: value(v, true)}
}

// typed is a fact a person typed.
func typed(label, v string) fact {
	if v == "" {
		return fact{label: label, mail: "(none)", chat: "(none)"}
	}
	return fact{label: label, mail: typedMail(v), chat: typedChat(v)}
}

type facts []fact

// render writes one "Label: value" line per fact.
func (f facts) render(chat bool) string {
	lines := make([]string, len(f))
	for i, x := range f {
		v := x.mail
		if chat {
			v = x.chat
		}
		lines[i] = x.label + ": " + v
	}
	return strings.Join(lines, "\n")
}

// section is f after a blank line, or nothing.
func (f facts) section(chat bool) string {
	if len(f) == 0 {
		return ""
	}
	return "\n\n" + f.render(chat)
}

func roleKind(role string) string {
	if strings.HasSuffix(role, "_ro") {
		return "ro"
	}
	return "rw"
}

func grantID(n broker.Notification) string {
	if n.Grant != nil {
		return n.Grant.GrantID
	}
	return ""
}

func expiry(n broker.Notification) time.Time {
	if n.Grant != nil {
		return n.Grant.ExpiresAt
	}
	return time.Time{}
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") }

// clip cuts s to at most max characters.
func clip(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// subject is an e-mail subject: SNS allows 100 printable ASCII characters.
func subject(title string) string {
	b := []byte("ffbroker: " + title)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if len(b) > 100 {
		b = b[:100]
	}
	return string(b)
}
