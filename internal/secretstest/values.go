package secretstest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ffbroker/ffbroker/broker"
)

// Role is the role of the sample values.
const Role = "my_pg_firefighter_ro"

// GrantID returns a new random grant id (a lower-case UUID).
func GrantID(t testing.TB) string {
	t.Helper()
	id, err := uuid.NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// GrantValue returns the secret value of a live grant id of Role with a new password.
func GrantValue(t testing.TB, id string) broker.SecretValue {
	t.Helper()
	p, err := broker.GeneratePassword(nil, broker.DefaultPasswordLength)
	if err != nil {
		t.Fatalf("GeneratePassword() error = %v", err)
	}
	v := Tombstone()
	v.Password, v.ExpiresAt, v.GrantID, v.IncidentID, v.Status = p,
		time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), id, "INC-1234", broker.SecretActive
	return v
}

// Tombstone returns the secret value of Role after expiry.
func Tombstone() broker.SecretValue {
	return broker.SecretValue{
		Engine: "postgres", Host: "my-pg.cluster-abc.us-east-1.rds.amazonaws.com", Port: 5432,
		DBName: "my-pg-db", Username: Role, SSLMode: "verify-full",
	}.Tombstone()
}
