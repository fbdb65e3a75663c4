package broker

import (
	"crypto/rand"
	"fmt"
	"io"
)

// Password lengths.
const (
	// DefaultPasswordLength is the length of a generated password, about 241
	// bits of entropy.
	DefaultPasswordLength = 40
	// MinPasswordLength is the shortest password GeneratePassword makes; the
	// database function refuses shorter plaintext.
	MinPasswordLength = 32
)

// passwordAlphabet is RFC 3986's unreserved characters: safe in libpq
// connection strings, URIs and JSON without escaping.
const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

// acceptBelow is the largest multiple of len(passwordAlphabet) that fits in a
// byte; random bytes at or above it are discarded, so that every character is
// equally likely.
const acceptBelow = 256 / len(passwordAlphabet) * len(passwordAlphabet)

// GeneratePassword returns a random password of n characters drawn uniformly
// from the RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~).
//
// r is the source of randomness; nil means crypto/rand. n below
// MinPasswordLength is an error. Bytes are drawn by rejection sampling, so no
// character is more likely than another.
func GeneratePassword(r io.Reader, n int) (Password, error) {
	if n < MinPasswordLength {
		return Password{}, fmt.Errorf("generate password: length %d is below the minimum of %d", n, MinPasswordLength)
	}
	if r == nil {
		r = rand.Reader
	}
	out := make([]byte, 0, n)
	// Each byte is accepted with probability acceptBelow/256 (~77%); ask for
	// a little more than n to usually need one read.
	buf := make([]byte, n+n/2)
	defer clear(buf)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return Password{}, fmt.Errorf("generate password: read random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) >= acceptBelow {
				continue
			}
			out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			if len(out) == n {
				break
			}
		}
	}
	p := NewPassword(string(out))
	clear(out)
	return p, nil
}
