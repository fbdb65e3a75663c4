package broker

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// SCRAM-SHA-256 parameters of generated verifiers, PostgreSQL's defaults.
const (
	// SCRAMIterations is the PBKDF2 iteration count of a generated verifier.
	SCRAMIterations = 4096
	// SCRAMSaltLength is the length in bytes of a generated verifier's salt.
	SCRAMSaltLength = 16
)

// scramScheme opens every SCRAM-SHA-256 secret PostgreSQL stores.
const scramScheme = "SCRAM-SHA-256"

// NewVerifier computes the SCRAM-SHA-256 verifier of p (RFC 5802, RFC 7677) in
// the format PostgreSQL stores in pg_authid:
// "SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>".
//
// PostgreSQL runs a password through SASLprep before hashing it. SASLprep maps
// printable ASCII to itself, so NewVerifier accepts only a non-empty password
// of printable ASCII (0x20 to 0x7E), as GeneratePassword makes, and returns an
// error for anything else rather than compute a verifier the server would not
// match. salt must not be empty and iterations must be from 1 to 2^31-1.
func NewVerifier(p Password, salt []byte, iterations int) (Verifier, error) {
	plaintext := p.Reveal()
	switch {
	case plaintext == "":
		return Verifier{}, errors.New("new verifier: password is empty")
	case !printableASCII(plaintext):
		return Verifier{}, errors.New("new verifier: password must be printable ascii")
	case len(salt) == 0:
		return Verifier{}, errors.New("new verifier: salt is empty")
	case iterations < 1 || iterations > math.MaxInt32:
		return Verifier{}, fmt.Errorf("new verifier: iterations %d out of range", iterations)
	}
	keys, err := deriveSCRAMKeys(plaintext, salt, iterations)
	if err != nil {
		return Verifier{}, fmt.Errorf("new verifier: %w", err)
	}
	enc := base64.StdEncoding
	text := scramScheme + "$" + strconv.Itoa(iterations) + ":" + enc.EncodeToString(salt) +
		"$" + enc.EncodeToString(keys.stored) + ":" + enc.EncodeToString(keys.server)
	return Verifier{s: newSecret(text)}, nil
}

// GenerateVerifier computes the verifier of p with a random salt of
// SCRAMSaltLength bytes read from r (nil means crypto/rand) and SCRAMIterations
// iterations.
func GenerateVerifier(r io.Reader, p Password) (Verifier, error) {
	if r == nil {
		r = rand.Reader
	}
	salt := make([]byte, SCRAMSaltLength)
	if _, err := io.ReadFull(r, salt); err != nil {
		return Verifier{}, fmt.Errorf("generate verifier: read salt: %w", err)
	}
	return NewVerifier(p, salt, SCRAMIterations)
}

// scramKeys are the keys RFC 5802 derives from a salted password.
type scramKeys struct {
	client []byte // HMAC(SaltedPassword, "Client Key")
	stored []byte // H(ClientKey)
	server []byte // HMAC(SaltedPassword, "Server Key")
}

// deriveSCRAMKeys computes the SCRAM-SHA-256 keys of password, which must
// already be SASLprep-normalised.
func deriveSCRAMKeys(password string, salt []byte, iterations int) (scramKeys, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return scramKeys{}, err
	}
	defer clear(salted)
	client := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(client)
	return scramKeys{
		client: client,
		stored: stored[:],
		server: hmacSHA256(salted, "Server Key"),
	}, nil
}

func hmacSHA256(key []byte, message string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(message))
	return m.Sum(nil)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validIterations reports whether s is a decimal integer from 1 to 2^31-1
// written without sign or leading zero.
func validIterations(s string) bool {
	if s == "" || len(s) > 10 || s[0] < '1' || s[0] > '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && n <= math.MaxInt32
}

// canonicalBase64Len returns the decoded length of s if s is padded standard
// base64 that re-encodes to itself (which rules out whitespace, which Go's
// decoder skips, and non-zero padding bits).
func canonicalBase64Len(s string) (int, bool) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s {
		return 0, false
	}
	return len(b), true
}
