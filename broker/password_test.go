package broker_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
)

const unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

// cycleReader yields the bytes 0, 1, ..., 255, 0, 1, ... forever.
type cycleReader struct{ next byte }

func (r *cycleReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.next
		r.next++
	}
	return len(p), nil
}

// failingReader fails every read.
type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestGeneratePasswordLengthAndAlphabet(t *testing.T) {
	for _, n := range []int{broker.MinPasswordLength, broker.DefaultPasswordLength, 64, 200} {
		t.Run("", func(t *testing.T) {
			p, err := broker.GeneratePassword(nil, n)
			if err != nil {
				t.Fatalf("GeneratePassword(nil, %d) error = %v", n, err)
			}
			got := p.Reveal()
			if len(got) != n || p.Len() != n {
				t.Errorf("GeneratePassword(nil, %d) length = %d (Len %d); want %d", n, len(got), p.Len(), n)
			}
			if i := strings.IndexFunc(got, func(r rune) bool { return !strings.ContainsRune(unreserved, r) }); i >= 0 {
				t.Errorf("GeneratePassword(nil, %d) holds %q at %d; want only RFC 3986 unreserved characters", n, got[i], i)
			}
		})
	}
}

func TestGeneratePasswordDiffers(t *testing.T) {
	a, errA := broker.GeneratePassword(nil, broker.DefaultPasswordLength)
	b, errB := broker.GeneratePassword(nil, broker.DefaultPasswordLength)
	if errA != nil || errB != nil {
		t.Fatalf("GeneratePassword(nil, 40) errors = %v, %v", errA, errB)
	}
	if a.Reveal() == b.Reveal() {
		t.Errorf("two GeneratePassword(nil, 40) calls returned the same password")
	}
}

func TestGeneratePasswordRejectsShortLength(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 16, broker.MinPasswordLength - 1} {
		t.Run("", func(t *testing.T) {
			p, err := broker.GeneratePassword(nil, n)
			if err == nil {
				t.Errorf("GeneratePassword(nil, %d) error = nil; want an error", n)
			}
			if p.Len() != 0 {
				t.Errorf("GeneratePassword(nil, %d) returned a %d-byte password with its error", n, p.Len())
			}
		})
	}
}

// TestGeneratePasswordUniform feeds every byte value in turn: of 0..255 the
// generator must keep exactly the 198 (3 × 66) that map evenly onto the
// alphabet, so each character appears exactly as often as every other.
func TestGeneratePasswordUniform(t *testing.T) {
	const rounds = 4
	n := rounds * 3 * len(unreserved)
	p, err := broker.GeneratePassword(&cycleReader{}, n)
	if err != nil {
		t.Fatalf("GeneratePassword(cycle, %d) error = %v", n, err)
	}
	counts := map[rune]int{}
	for _, r := range p.Reveal() {
		counts[r]++
	}
	for _, r := range unreserved {
		if counts[r] != rounds*3 {
			t.Errorf("GeneratePassword(cycle, %d): %q appears %d times; want %d", n, r, counts[r], rounds*3)
		}
	}
	if len(counts) != len(unreserved) {
		t.Errorf("GeneratePassword(cycle, %d) used %d distinct characters; want %d", n, len(counts), len(unreserved))
	}
}

func TestGeneratePasswordSkipsBiasedBytes(t *testing.T) {
	// 198..255 would map onto the first 58 characters a fourth time; they
	// must be dropped, not used.
	src := append(bytes.Repeat([]byte{198, 255, 230}, 100), bytes.Repeat([]byte{65}, 100)...)
	p, err := broker.GeneratePassword(bytes.NewReader(src), broker.MinPasswordLength)
	if err != nil {
		t.Fatalf("GeneratePassword(biased bytes then 65) error = %v", err)
	}
	want := strings.Repeat(string(unreserved[65]), broker.MinPasswordLength)
	if got := p.Reveal(); got != want {
		t.Errorf("GeneratePassword(biased bytes then 65) = %q; want %q", got, want)
	}
}

func TestGeneratePasswordReaderErrors(t *testing.T) {
	boom := errors.New("entropy source failed")
	tests := []struct {
		name string
		r    io.Reader
		want error
	}{
		{"failing reader", failingReader{boom}, boom},
		{"empty reader", bytes.NewReader(nil), io.EOF},
		{"short reader", bytes.NewReader(make([]byte, 10)), io.ErrUnexpectedEOF},
		{"only rejected bytes", bytes.NewReader(bytes.Repeat([]byte{250}, 1000)), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := broker.GeneratePassword(tt.r, broker.DefaultPasswordLength)
			if !errors.Is(err, tt.want) {
				t.Errorf("GeneratePassword(%s, 40) error = %v; want %v", tt.name, err, tt.want)
			}
			if p.Len() != 0 {
				t.Errorf("GeneratePassword(%s, 40) returned a %d-byte password with its error", tt.name, p.Len())
			}
		})
	}
}
