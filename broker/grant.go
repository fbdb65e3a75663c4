package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Grant is one firefighter grant as the database ledger records it.
type Grant struct {
	// ID is the grant id; it is also the ClientRequestToken (version id) of the
	// secret version that holds the grant's password.
	ID string
	// Role is the full PostgreSQL role name.
	Role string
	// IncidentID is the incident the grant was issued for.
	IncidentID string
	// Requester and Approver are authenticated principals (Approver may be empty).
	Requester string
	Approver  string
	// RequesterKey and ApproverKey are their principal keys.
	RequesterKey string
	ApproverKey  string
	// IssuedAt and ExpiresAt come from the database clock.
	IssuedAt  time.Time
	ExpiresAt time.Time
	// ActivatedAt is when the grant's password was set: the role's password is the
	// one of its live grant activated last.
	ActivatedAt time.Time
	// RequestID is the approved request the grant was issued against, if any (set by
	// ClaimExpiryWarnings).
	RequestID string
}

// SecretStatus values of SecretValue.Status.
const (
	SecretActive  = "active"
	SecretExpired = "expired"
)

// DefaultSecretPrefix is the prefix of the role secrets' names when none is
// configured (FFB_SECRET_PREFIX).
const DefaultSecretPrefix = "firefighter/my-pg"

// SecretRoleTag is the tag key that names the PostgreSQL role a secret belongs to;
// IAM policies can match it as secretsmanager:ResourceTag/ffbroker:role.
const SecretRoleTag = "ffbroker:role"

// SecretGrantTag and SecretExpiresAtTag are the tags that say how long the password
// of the secret's current version works when that is later than the version says
// (RFC 3339, to the microsecond the database keeps): after an extension, or when a
// longer grant of the role is live. A version cannot change, and both keep the
// version (the password) that its holders use. See EffectiveExpiry.
const (
	SecretGrantTag     = "ffbroker:grant_id"
	SecretExpiresAtTag = "ffbroker:expires_at"
)

// SecretName returns the name of role's secret: <prefix>/<role>, where a prefix ""
// means DefaultSecretPrefix and trailing slashes of prefix are dropped.
func SecretName(prefix, role string) string {
	prefix = strings.TrimRight(prefix, "/")
	if prefix == "" {
		prefix = DefaultSecretPrefix
	}
	return prefix + "/" + role
}

// EffectiveExpiry is when the password in v stops working: the expiry tag of its
// secret when the tags name v's grant and say later (the grant was extended), else
// v.ExpiresAt. tags are the secret's tags (DescribeSecret).
func EffectiveExpiry(v SecretValue, tags map[string]string) time.Time {
	if v.GrantID == "" || tags[SecretGrantTag] != v.GrantID {
		return v.ExpiresAt
	}
	t, err := time.Parse(time.RFC3339, tags[SecretExpiresAtTag])
	if err != nil || !t.After(v.ExpiresAt) {
		return v.ExpiresAt
	}
	return t
}

// SecretValue is the JSON stored in a role's secret: the field names of the RDS
// secret format, so existing tools can read it, plus the grant's details. After expiry
// it is a tombstone: no password and Status "expired".
type SecretValue struct {
	Engine     string
	Host       string
	Port       int
	DBName     string
	Username   string
	Password   Password
	SSLMode    string
	ExpiresAt  time.Time
	GrantID    string
	IncidentID string
	Status     string
}

// Tombstone returns what v's secret holds once no grant of its role is live: the
// same connection details, no password, no grant, Status SecretExpired.
func (v SecretValue) Tombstone() SecretValue {
	return SecretValue{
		Engine: v.Engine, Host: v.Host, Port: v.Port, DBName: v.DBName,
		Username: v.Username, SSLMode: v.SSLMode, Status: SecretExpired,
	}
}

// IsTombstone reports whether v is a tombstone: no password and Status SecretExpired.
func (v SecretValue) IsTombstone() bool {
	return v.Password.Len() == 0 && v.Status == SecretExpired
}

type secretJSON struct {
	Engine     string `json:"engine"`
	Host       string `json:"host"`
	Port       int    `json:"port"`
	DBName     string `json:"dbname"`
	Username   string `json:"username"`
	Password   string `json:"password,omitempty"`
	SSLMode    string `json:"sslmode,omitempty"`
	ExpiresAt  string `json:"expires_at,omitempty"`
	GrantID    string `json:"grant_id,omitempty"`
	IncidentID string `json:"incident_id,omitempty"`
	Status     string `json:"status"`
}

// SecretString encodes v as the secret's JSON, password included. It is the only
// encoding that reveals the password; use it only to write the secret.
func (v SecretValue) SecretString() (string, error) {
	j := secretJSON{
		Engine: v.Engine, Host: v.Host, Port: v.Port, DBName: v.DBName, Username: v.Username,
		Password: v.Password.Reveal(), SSLMode: v.SSLMode, GrantID: v.GrantID,
		IncidentID: v.IncidentID, Status: v.Status,
	}
	if !v.ExpiresAt.IsZero() {
		j.ExpiresAt = v.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(j)
	return string(b), err
}

// ParseSecretValue decodes a secret's JSON.
func ParseSecretValue(s string) (SecretValue, error) {
	var j secretJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return SecretValue{}, errors.New("secret value is not the expected JSON")
	}
	v := SecretValue{
		Engine: j.Engine, Host: j.Host, Port: j.Port, DBName: j.DBName, Username: j.Username,
		Password: NewPassword(j.Password), SSLMode: j.SSLMode, GrantID: j.GrantID,
		IncidentID: j.IncidentID, Status: j.Status,
	}
	if j.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, j.ExpiresAt)
		if err != nil {
			return SecretValue{}, fmt.Errorf("secret expires_at: %w", err)
		}
		v.ExpiresAt = t
	}
	return v, nil
}

// String describes v without its password.
func (v SecretValue) String() string {
	return fmt.Sprintf("secret{%s@%s:%d/%s grant=%s status=%s expires=%s}",
		v.Username, v.Host, v.Port, v.DBName, v.GrantID, v.Status, v.ExpiresAt.UTC().Format(time.RFC3339))
}

// LogValue logs v without its password.
func (v SecretValue) LogValue() slog.Value { return slog.StringValue(v.String()) }

// SecretRef names one version of a role's secret.
type SecretRef struct {
	// ARN of the secret.
	ARN string
	// VersionID of the version (the grant id for a grant's version).
	VersionID string
}
