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

// Messages renders n as a Chatbot custom notification and as plain text. Text people
// typed (reason, comment) is kept from pinging anyone in chat (see chatSafe).
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
	f := facts{{"Requester", person(r.Requester, r.RequesterKey), true}, {"Incident", or(r.IncidentID, "(none)"), false}, {"Role", r.Role, false}}
	if r.Hours > 0 {
		f = append(f, fact{"Hours", fmt.Sprint(r.Hours), false})
	}
	switch n.Kind {
	case broker.NotifyExpiring, broker.NotifyExtended, broker.NotifyRevoked, broker.NotifyExpired:
	default:
		f = append(f, fact{"Reason", or(r.Reason, "(none)"), true})
	}
	again := fmt.Sprintf("ffbroker issue --role %s --incident %s --reason '...'", kind, r.IncidentID)
	switch n.Kind {
	case broker.NotifyApprovalNeeded:
		m.Content.Title = fmt.Sprintf("Firefighter %s access for %s waits for your approval", kind, r.IncidentID)
		f = append(f, fact{"Decide by", when(r.DecideBy), false})
		m.Content.NextSteps = []string{"ffbroker approve " + r.ID + " --comment '...'", "ffbroker deny " + r.ID + " --comment '...'"}
	case broker.NotifyApproved:
		m.Content.Title = fmt.Sprintf("Your firefighter %s access for %s was approved", kind, r.IncidentID)
		f = append(f, fact{"Approver", person(r.Approver, r.ApproverKey), true}, fact{"Comment", or(r.Comment, "(none)"), true})
		m.Content.NextSteps = []string{"ffbroker status"}
	case broker.NotifyDenied:
		m.Content.Title = fmt.Sprintf("Your firefighter %s access for %s was denied", kind, r.IncidentID)
		f = append(f, fact{"Approver", person(r.Approver, r.ApproverKey), true}, fact{"Comment", or(r.Comment, "(none)"), true})
		m.Content.NextSteps = []string{again}
	case broker.NotifyTimedOut:
		m.Content.Title = fmt.Sprintf("Your firefighter %s access for %s: nobody approved in time", kind, r.IncidentID)
		f = append(f, fact{"Decide by", when(r.DecideBy), false})
		m.Content.NextSteps = []string{again}
	case broker.NotifyIssued:
		m.Content.Title = fmt.Sprintf("Your firefighter %s access for %s is issued", kind, r.IncidentID)
		f = append(f, fact{"Expires", when(expiry(n)), false})
		m.Content.NextSteps = []string{"ffbroker connect --role " + kind, fmt.Sprintf("ffbroker revoke --role %s --incident %s", kind, r.IncidentID)}
	case broker.NotifyExpiring:
		m.ID += ":" + fmt.Sprint(expiry(n).Unix())
		m.Content.Title = fmt.Sprintf("Your firefighter %s access for %s ends at %s", kind, r.IncidentID, when(expiry(n)))
		f = append(f, fact{"Expires", when(expiry(n)), false}, fact{"Grant", grantID(n), false})
		m.Content.NextSteps = []string{fmt.Sprintf("ffbroker extend --role %s --incident %s", kind, r.IncidentID)}
	case broker.NotifyRevoked:
		m.Content.Title = fmt.Sprintf("Your firefighter %s access for %s was revoked", kind, r.IncidentID)
		f = append(f, fact{"Revoked by", or(n.EndedBy, "(unknown)"), true}, fact{"Grant", grantID(n), false})
		m.Content.NextSteps = []string{again}
	case broker.NotifyExpired:
		m.Content.Title = fmt.Sprintf("Your firefighter %s access for %s has ended", kind, r.IncidentID)
		f = append(f, fact{"Expired", when(expiry(n)), false}, fact{"Grant", grantID(n), false})
		m.Content.NextSteps = []string{again}
	case broker.NotifyExtended:
		m.ID += ":" + fmt.Sprint(expiry(n).Unix())
		m.Content.Title = fmt.Sprintf("Your firefighter %s access for %s now ends at %s", kind, r.IncidentID, when(expiry(n)))
		f = append(f, fact{"Expires", when(expiry(n)), false}, fact{"Grant", grantID(n), false})
		m.Content.NextSteps = []string{"ffbroker connect --role " + kind}
	default:
		m.Content.Title = "ffbroker: " + n.Kind
	}
	if r.ID != "" {
		f = append(f, fact{"Request", r.ID, false})
	}
	text := f.render(false)
	m.Content.TextType = "client-markdown"
	m.Content.Title = clip(m.Content.Title, maxTitle)
	m.Content.Description = clip(f.render(true), maxDescription)
	m.Content.Keywords = []string{kind, n.Kind}
	if r.IncidentID != "" {
		m.Content.Keywords = append([]string{r.IncidentID}, m.Content.Keywords...)
	}
	m.Metadata.Summary = m.Content.Title
	mail := m.Content.Title + "\n\n" + text + "\n"
	if len(m.Content.NextSteps) > 0 {
		mail += "\nNext:\n"
		for _, s := range m.Content.NextSteps {
			mail += "  " + s + "\n"
		}
	}
	return m, mail
}

// person names a verified caller as the two-person rule counts them: the ARN STS
// verified and, when it differs, the principal key. A session name of a role whose
// session names AWS does not enforce is whatever the caller chose: the key (the
// role, every session of it) is who it is. Names may hold "@": they are chat-safe'd
// like typed text.
func person(arn, key string) string {
	switch {
	case key == "" || strings.EqualFold(key, arn):
		return arn
	case strings.HasPrefix(key, "session/"):
		return arn + " (counts as " + key + ")"
	}
	return arn + " (session name chosen by the caller; counts as " + key + ", every session of that role)"
}

// fact is one line of a message; typed marks text a person typed or chose.
type fact struct {
	label, value string
	typed        bool
}

type facts []fact

// render writes one "Label: value" line per fact; for chat, typed text is made
// chat-safe.
func (f facts) render(chat bool) string {
	lines := make([]string, len(f))
	for i, x := range f {
		v := x.value
		if chat && x.typed {
			v = chatSafe(v)
		}
		lines[i] = x.label + ": " + v
	}
	return strings.Join(lines, "\n")
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

// chatSafe keeps typed text from addressing anyone in chat: Slack reads <!channel>, <@U123>
// and <url|label> between angle brackets, Teams and Slack mention with @.
func chatSafe(s string) string {
	return strings.NewReplacer("<", "‹", ">", "›", "@", "＠").Replace(s)
}

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
