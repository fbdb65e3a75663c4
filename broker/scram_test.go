package broker

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// RFC 7677, section 3: the SCRAM-SHA-256 exchange for user "user", password
// "pencil".
const (
	rfcPassword        = "pencil"
	rfcSalt            = "W22ZaJ0SNY7soEsUEjb6gQ=="
	rfcIterations      = 4096
	rfcClientFirstBare = "n=user,r=rOprNGfwEbeRWgbNEkqO"
	rfcServerFirst     = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfcClientFinalBare = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	rfcClientProof     = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	rfcServerSignature = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
)

const rfcAuthMessage = rfcClientFirstBare + "," + rfcServerFirst + "," + rfcClientFinalBare

func mustBase64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 decode %q: %v", s, err)
	}
	return b
}

func hmacOf(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func xor(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

// TestDeriveSCRAMKeysRFC7677 acts as the client: from the derived ClientKey it
// computes the proof the RFC's client sends, and from ServerKey the signature
// the RFC's server returns.
func TestDeriveSCRAMKeysRFC7677(t *testing.T) {
	keys, err := deriveSCRAMKeys(rfcPassword, mustBase64(t, rfcSalt), rfcIterations)
	if err != nil {
		t.Fatalf("deriveSCRAMKeys(pencil) error = %v", err)
	}
	clientSignature := hmacOf(keys.stored, rfcAuthMessage)
	proof := base64.StdEncoding.EncodeToString(xor(keys.client, clientSignature))
	if proof != rfcClientProof {
		t.Errorf("deriveSCRAMKeys(pencil): ClientProof = %s; want %s", proof, rfcClientProof)
	}
	signature := base64.StdEncoding.EncodeToString(hmacOf(keys.server, rfcAuthMessage))
	if signature != rfcServerSignature {
		t.Errorf("deriveSCRAMKeys(pencil): ServerSignature = %s; want %s", signature, rfcServerSignature)
	}
}

// TestNewVerifierRFC7677 acts as the server: it parses the verifier text as
// PostgreSQL does and checks the RFC's client proof against it.
func TestNewVerifierRFC7677(t *testing.T) {
	v, err := NewVerifier(NewPassword(rfcPassword), mustBase64(t, rfcSalt), rfcIterations)
	if err != nil {
		t.Fatalf("NewVerifier(pencil) error = %v", err)
	}
	text := v.Reveal()
	if !validVerifier(text) {
		t.Fatalf("validVerifier(NewVerifier(pencil)) = false for %q", text)
	}
	prefix := "SCRAM-SHA-256$4096:" + rfcSalt + "$"
	rest, ok := strings.CutPrefix(text, prefix)
	if !ok {
		t.Fatalf("NewVerifier(pencil) = %q; want prefix %q", text, prefix)
	}
	storedB64, serverB64, _ := strings.Cut(rest, ":")
	stored, server := mustBase64(t, storedB64), mustBase64(t, serverB64)

	clientKey := xor(mustBase64(t, rfcClientProof), hmacOf(stored, rfcAuthMessage))
	if got := sha256.Sum256(clientKey); !bytes.Equal(got[:], stored) {
		t.Errorf("NewVerifier(pencil): H(ClientProof XOR ClientSignature) = %x; want StoredKey %x", got, stored)
	}
	signature := base64.StdEncoding.EncodeToString(hmacOf(server, rfcAuthMessage))
	if signature != rfcServerSignature {
		t.Errorf("NewVerifier(pencil): ServerSignature = %s; want %s", signature, rfcServerSignature)
	}
}

func TestNewVerifierRejects(t *testing.T) {
	salt := []byte("0123456789abcdef")
	tests := []struct {
		name       string
		password   string
		salt       []byte
		iterations int
	}{
		{"empty password", "", salt, 4096},
		{"non-ascii password", "pässwörd-pässwörd-pässwörd-pässwörd", salt, 4096},
		{"control character", "abc\x00def", salt, 4096},
		{"newline", "abcdef\n", salt, 4096},
		{"DEL", "abcdef\x7f", salt, 4096},
		{"invalid utf-8", "abc\xffdef", salt, 4096},
		{"no salt", "pencil", nil, 4096},
		{"zero iterations", "pencil", salt, 0},
		{"negative iterations", "pencil", salt, -1},
		{"iterations above int32", "pencil", salt, 1 << 31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(NewPassword(tt.password), tt.salt, tt.iterations)
			if err == nil {
				t.Errorf("NewVerifier(%s) error = nil; want an error", tt.name)
			}
			if v.Len() != 0 {
				t.Errorf("NewVerifier(%s) returned a verifier with its error", tt.name)
			}
			if err != nil && strings.Contains(err.Error(), tt.password) && tt.password != "" {
				t.Errorf("NewVerifier(%s) error = %q; holds the password", tt.name, err)
			}
		})
	}
}

func TestGenerateVerifier(t *testing.T) {
	p, err := GeneratePassword(nil, DefaultPasswordLength)
	if err != nil {
		t.Fatalf("GeneratePassword() error = %v", err)
	}
	v1, err1 := GenerateVerifier(nil, p)
	v2, err2 := GenerateVerifier(nil, p)
	if err1 != nil || err2 != nil {
		t.Fatalf("GenerateVerifier(nil, p) errors = %v, %v", err1, err2)
	}
	for _, v := range []Verifier{v1, v2} {
		if !validVerifier(v.Reveal()) {
			t.Errorf("validVerifier(GenerateVerifier()) = false for %q", v.Reveal())
		}
		if !strings.HasPrefix(v.Reveal(), "SCRAM-SHA-256$4096:") {
			t.Errorf("GenerateVerifier() = %q; want 4096 iterations", v.Reveal())
		}
		_, rest, _ := strings.Cut(v.Reveal(), ":")
		salt, _, _ := strings.Cut(rest, "$")
		if n := len(mustBase64(t, salt)); n != SCRAMSaltLength {
			t.Errorf("GenerateVerifier() salt is %d bytes; want %d", n, SCRAMSaltLength)
		}
		if strings.Contains(v.Reveal(), p.Reveal()) {
			t.Errorf("GenerateVerifier() holds the plaintext")
		}
	}
	if v1.Reveal() == v2.Reveal() {
		t.Errorf("two GenerateVerifier(nil, p) calls gave the same verifier; want fresh salts")
	}

	// A fixed salt source gives the same verifier as NewVerifier.
	salt := bytes.Repeat([]byte{7}, SCRAMSaltLength)
	got, err := GenerateVerifier(bytes.NewReader(salt), p)
	if err != nil {
		t.Fatalf("GenerateVerifier(fixed salt) error = %v", err)
	}
	want, _ := NewVerifier(p, salt, SCRAMIterations)
	if got.Reveal() != want.Reveal() {
		t.Errorf("GenerateVerifier(fixed salt) = %q; want %q", got.Reveal(), want.Reveal())
	}

	boom := errors.New("no entropy")
	if _, err := GenerateVerifier(failReader{boom}, p); !errors.Is(err, boom) {
		t.Errorf("GenerateVerifier(failing reader) error = %v; want %v", err, boom)
	}
}

type failReader struct{ err error }

func (r failReader) Read([]byte) (int, error) { return 0, r.err }

func TestValidVerifierOracle(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, 32))
	key31 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, 31))
	key33 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, 33))
	salt := "W22ZaJ0SNY7soEsUEjb6gQ=="
	good := "SCRAM-SHA-256$4096:" + salt + "$" + key + ":" + key
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"good", good, true},
		{"rfc 7677 shape", "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=", true},
		{"one iteration", "SCRAM-SHA-256$1:" + salt + "$" + key + ":" + key, true},
		{"max int32 iterations", "SCRAM-SHA-256$2147483647:" + salt + "$" + key + ":" + key, true},
		{"one-byte salt", "SCRAM-SHA-256$4096:qw==$" + key + ":" + key, true},
		{"empty", "", false},
		{"plaintext", "correct-horse-battery-staple-0123456789", false},
		{"md5 form", "md5" + strings.Repeat("a", 32), false},
		{"wrong scheme", "SCRAM-SHA-1$4096:" + salt + "$" + key + ":" + key, false},
		{"lower-case scheme", "scram-sha-256$4096:" + salt + "$" + key + ":" + key, false},
		{"leading space", " " + good, false},
		{"trailing space", good + " ", false},
		{"trailing newline", good + "\n", false},
		{"no iterations", "SCRAM-SHA-256$:" + salt + "$" + key + ":" + key, false},
		{"iterations 0", "SCRAM-SHA-256$0:" + salt + "$" + key + ":" + key, false},
		{"iterations negative", "SCRAM-SHA-256$-4096:" + salt + "$" + key + ":" + key, false},
		{"iterations plus sign", "SCRAM-SHA-256$+4096:" + salt + "$" + key + ":" + key, false},
		{"iterations leading zero", "SCRAM-SHA-256$04096:" + salt + "$" + key + ":" + key, false},
		{"iterations non-numeric", "SCRAM-SHA-256$abc:" + salt + "$" + key + ":" + key, false},
		{"iterations with space", "SCRAM-SHA-256$ 4096:" + salt + "$" + key + ":" + key, false},
		{"iterations above int32", "SCRAM-SHA-256$2147483648:" + salt + "$" + key + ":" + key, false},
		{"iterations huge", "SCRAM-SHA-256$99999999999999999999:" + salt + "$" + key + ":" + key, false},
		{"missing salt", "SCRAM-SHA-256$4096:$" + key + ":" + key, false},
		{"missing keys", "SCRAM-SHA-256$4096:" + salt, false},
		{"missing server key", "SCRAM-SHA-256$4096:" + salt + "$" + key, false},
		{"empty server key", "SCRAM-SHA-256$4096:" + salt + "$" + key + ":", false},
		{"missing stored key", "SCRAM-SHA-256$4096:" + salt + "$:" + key, false},
		{"extra part", good + ":" + key, false},
		{"extra dollar", good + "$", false},
		{"salt not base64", "SCRAM-SHA-256$4096:not*base64!$" + key + ":" + key, false},
		{"salt unpadded", "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ$" + key + ":" + key, false},
		{"salt url alphabet", "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6g_==$" + key + ":" + key, false},
		{"salt with newline", "SCRAM-SHA-256$4096:W22ZaJ0S\nNY7soEsUEjb6gQ==$" + key + ":" + key, false},
		{"salt non-canonical padding bits", "SCRAM-SHA-256$4096:qx==$" + key + ":" + key, false},
		{"stored key 31 bytes", "SCRAM-SHA-256$4096:" + salt + "$" + key31 + ":" + key, false},
		{"server key 33 bytes", "SCRAM-SHA-256$4096:" + salt + "$" + key + ":" + key33, false},
		{"key bad base64", "SCRAM-SHA-256$4096:" + salt + "$" + strings.Repeat("!", 44) + ":" + key, false},
		{"key with embedded newline", "SCRAM-SHA-256$4096:" + salt + "$" + key[:20] + "\n" + key[20:] + ":" + key, false},
		{"sql injection in salt", "SCRAM-SHA-256$4096:'; ALTER ROLE x SUPERUSER;--$" + key + ":" + key, false},
		{"sql injection after key", good + "'; ALTER ROLE x SUPERUSER;--", false},
		{"quote in key", "SCRAM-SHA-256$4096:" + salt + "$" + key + ":" + key[:43] + "'", false},
		{"NUL byte", "SCRAM-SHA-256$4096:" + salt + "$" + key + ":" + key + "\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validVerifier(tt.s); got != tt.want {
				t.Errorf("validVerifier(%q) = %v; want %v", tt.s, got, tt.want)
			}
		})
	}
}

// validVerifier, the test's oracle, reports whether s has exactly the shape of a SCRAM-SHA-256
// secret that PostgreSQL stores as such (rather than hashing it as a plaintext
// password): the "SCRAM-SHA-256$" scheme, a positive decimal iteration count
// without sign or leading zero that fits in 32 bits, a non-empty salt, and a
// StoredKey and ServerKey of 32 bytes each, every part in canonical padded
// standard base64 without whitespace.
func validVerifier(s string) bool {
	rest, ok := strings.CutPrefix(s, scramScheme+"$")
	if !ok {
		return false
	}
	iterations, rest, ok := strings.Cut(rest, ":")
	if !ok || !validIterations(iterations) {
		return false
	}
	salt, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return false
	}
	stored, server, ok := strings.Cut(keys, ":")
	if !ok {
		return false
	}
	n, ok := canonicalBase64Len(salt)
	if !ok || n == 0 {
		return false
	}
	if n, ok := canonicalBase64Len(stored); !ok || n != sha256.Size {
		return false
	}
	if n, ok := canonicalBase64Len(server); !ok || n != sha256.Size {
		return false
	}
	return true
}
