package broker

import (
	"fmt"
	"log/slog"
	"strconv"
)

// Redacted is what a Password or Verifier shows in place of its value.
const Redacted = "[REDACTED]"

// secret holds a sensitive string inside a closure. Unlike a string, a byte
// slice or a pointer, a func value shows only its address to reflection, so
// neither fmt (which prints unexported fields and bad verbs reflectively) nor
// a deep printer such as go-spew can reach the value. As a side effect types
// holding a secret are not comparable: compare the revealed values instead.
type secret func() string

func newSecret(value string) secret {
	return func() string { return value }
}

func (s secret) reveal() string {
	if s == nil {
		return ""
	}
	return s()
}

// Password is a plaintext password that cannot leak by accident.
//
// Every way of printing or encoding it (fmt verbs, String, GoString, JSON, text,
// slog) yields "[REDACTED]", and reflection over a struct that holds one finds
// only a func; Reveal is the only way to the plaintext. Passwords are not
// comparable with ==. The zero Password is empty.
type Password struct {
	s secret
}

// NewPassword wraps plaintext in a Password.
func NewPassword(plaintext string) Password {
	return Password{s: newSecret(plaintext)}
}

// Reveal returns the plaintext. Call it only where the password must leave the
// process by a channel meant for secrets (Secrets Manager, a psql connection).
func (p Password) Reveal() string { return p.s.reveal() }

// Len returns the length of the plaintext in bytes.
func (p Password) Len() int { return len(p.Reveal()) }

// String returns "[REDACTED]".
func (p Password) String() string { return Redacted }

// GoString returns "[REDACTED]", so %#v does not reveal the value.
func (p Password) GoString() string { return Redacted }

// Format writes "[REDACTED]" for every verb (quoted for %q).
func (p Password) Format(f fmt.State, verb rune) { formatRedacted(f, verb) }

// MarshalJSON returns the JSON string "[REDACTED]".
func (p Password) MarshalJSON() ([]byte, error) { return redactedJSON(), nil }

// MarshalText returns "[REDACTED]".
func (p Password) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue returns "[REDACTED]" as a slog string value.
func (p Password) LogValue() slog.Value { return slog.StringValue(Redacted) }

// Verifier is a SCRAM-SHA-256 secret in PostgreSQL's format
// ("SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>").
//
// A verifier lets anyone who holds it mount an offline guessing attack and
// impersonate the server, so it is redacted exactly like a Password: Reveal is
// the only way to its text, and Verifiers are not comparable with ==. Build one
// with NewVerifier or GenerateVerifier.
type Verifier struct {
	s secret
}

// Reveal returns the verifier text, to be passed as a query parameter to the
// db_admin functions and nowhere else.
func (v Verifier) Reveal() string { return v.s.reveal() }

// Len returns the length of the verifier text in bytes.
func (v Verifier) Len() int { return len(v.Reveal()) }

// String returns "[REDACTED]".
func (v Verifier) String() string { return Redacted }

// GoString returns "[REDACTED]", so %#v does not reveal the value.
func (v Verifier) GoString() string { return Redacted }

// Format writes "[REDACTED]" for every verb (quoted for %q).
func (v Verifier) Format(f fmt.State, verb rune) { formatRedacted(f, verb) }

// MarshalJSON returns the JSON string "[REDACTED]".
func (v Verifier) MarshalJSON() ([]byte, error) { return redactedJSON(), nil }

// MarshalText returns "[REDACTED]".
func (v Verifier) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue returns "[REDACTED]" as a slog string value.
func (v Verifier) LogValue() slog.Value { return slog.StringValue(Redacted) }

func formatRedacted(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprint(f, strconv.Quote(Redacted))
		return
	}
	fmt.Fprint(f, Redacted)
}

func redactedJSON() []byte {
	return []byte(strconv.Quote(Redacted))
}
