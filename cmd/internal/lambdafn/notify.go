package lambdafn

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/ffbroker/ffbroker/broker"
)

// Publisher is the SNS call notifications need.
type Publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Notifier publishes notifications to an SNS topic: an AWS Chatbot custom
// notification (rendered in Slack and Microsoft Teams) for every protocol, and plain
// text for e-mail. No task token, secret or password is ever in one.
type Notifier struct {
	sns   Publisher
	topic string
}

// NewNotifier returns a notifier publishing to topic.
func NewNotifier(p Publisher, topic string) *Notifier { return &Notifier{sns: p, topic: topic} }

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
	ThreadID  string `json:"threadId"`
	Summary   string `json:"summary"`
	EventType string `json:"eventType"`
}

// Notify publishes n.
func (s *Notifier) Notify(ctx context.Context, n broker.Notification) error {
	chat, mail := Messages(n)
	c, err := json.Marshal(chat)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(map[string]string{"default": string(c), "email": mail})
	if err != nil {
		return err
	}
	_, err = s.sns.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(s.topic), MessageStructure: aws.String("json"),
		Message: aws.String(string(msg)), Subject: aws.String(subject(chat.Content.Title))})
	return err
}

// Messages renders n as a Chatbot custom notification and as plain text.
func Messages(n broker.Notification) (ChatbotMessage, string) {
	r := n.Request
	kind := "rw"
	if strings.HasSuffix(r.Role, "_ro") {
		kind = "ro"
	}
	facts := fmt.Sprintf("Requester: %s\nIncident: %s\nRole: %s\nHours: %d\nReason: %s", r.Requester, r.IncidentID, r.Role, r.Hours, or(r.Reason, "(none)"))
	m := ChatbotMessage{Version: "1.0", Source: "custom", ID: r.ID + ":" + n.Kind,
		Metadata: ChatbotMetadata{ThreadID: r.ID, EventType: "ffbroker." + n.Kind}}
	switch n.Kind {
	case broker.NotifyApprovalNeeded:
		m.Content.Title = fmt.Sprintf("Firefighter %s access for %s waits for your approval", kind, r.IncidentID)
		m.Content.NextSteps = []string{"ffbroker approve " + r.ID + " --comment 'checked'", "ffbroker deny " + r.ID + " --comment 'why'"}
		facts += fmt.Sprintf("\nDecide by: %s", r.DecideBy.UTC().Format("2006-01-02 15:04:05 MST"))
	case broker.NotifyApproved:
		m.Content.Title = fmt.Sprintf("Firefighter %s access for %s approved by %s", kind, r.IncidentID, r.Approver)
	case broker.NotifyDenied:
		m.Content.Title = fmt.Sprintf("Firefighter %s access for %s denied by %s", kind, r.IncidentID, r.Approver)
	case broker.NotifyTimedOut:
		m.Content.Title = fmt.Sprintf("Firefighter %s access for %s: nobody approved in time", kind, r.IncidentID)
		m.Content.NextSteps = []string{fmt.Sprintf("ffbroker issue --role %s --incident %s --reason '...'", kind, r.IncidentID)}
	case broker.NotifyIssued:
		m.Content.Title = fmt.Sprintf("Firefighter %s access for %s issued", kind, r.IncidentID)
		if n.Grant != nil {
			facts += fmt.Sprintf("\nExpires: %s", n.Grant.ExpiresAt.UTC().Format("2006-01-02 15:04:05 MST"))
		}
		m.Content.NextSteps = []string{fmt.Sprintf("ffbroker connect --role %s", kind)}
	default:
		m.Content.Title = "ffbroker: " + n.Kind
	}
	m.Content.TextType = "client-markdown"
	m.Content.Description = facts
	m.Content.Keywords = []string{r.IncidentID, kind}
	m.Metadata.Summary = m.Content.Title
	text := m.Content.Title + "\n\n" + facts + "\nRequest: " + r.ID + "\n"
	for _, s := range m.Content.NextSteps {
		text += "\n  " + s
	}
	return m, text
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
