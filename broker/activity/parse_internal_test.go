package activity

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The work Parse does (candidate ends of the prefix tried, bytes compared) is
// bounded by a constant, whatever the line: lines of the maximum length full of
// prefix and message imitations cost no more than short ones. (Work, not time:
// the test must pass under -race on a busy machine.)
func TestParseAdversarialWork(t *testing.T) {
	const ts = "2026-11-21 18:54:34 UTC"
	hdr := ":[1]:LOG:  connection authorized: user="
	fill := func(n int, unit string) []byte {
		b := []byte(ts + ":10.0.0.1(1):" + strings.Repeat(unit, n/len(unit)+1))
		return b[:n]
	}
	// The bound: every '[' in the longest "%u@%d" may be a candidate, each compares
	// at most two names and the database field.
	const bound = (maxUserAt + 2) * (1 + 2*maxName + 2)
	worst := 0
	for _, unit := range []string{"a@" + hdr, hdr, ":[1]:", "[", "@:[1]:FATAL:  role \"", "a@b:[1]:LOG:  connection authorized: user=a database=b\n"} {
		for _, n := range []int{128, 512, 1024, MaxLineBytes} {
			var l Line
			w := parse(&l, fill(n, unit))
			if w > bound {
				t.Errorf("Parse of a %d-byte line of %q did %d units of work; want at most %d", n, unit, w, bound)
			}
			worst = max(worst, w)
		}
		// The work does not grow with the line once it is past the prefix's reach.
		var short, long Line
		if ws, wl := parse(&short, fill(512, unit)), parse(&long, fill(MaxLineBytes, unit)); wl > ws {
			t.Errorf("work on %q grows with the line: %d at 512 bytes, %d at %d", unit, ws, wl, MaxLineBytes)
		}
	}
	if worst == 0 {
		t.Fatal("no work measured; the test proves nothing")
	}
	t.Logf("worst work %d (bound %d)", worst, bound)
}

// The host byte table agrees with the bit masks.
func TestHostTable(t *testing.T) {
	for c := range 256 {
		if (hostTable[c] == 1) != isHostChar(byte(c)) {
			t.Errorf("byte %#x: table %d, masks %v", c, hostTable[c], isHostChar(byte(c)))
		}
	}
}

// daysFromCivil agrees with the time package over the years a log may carry.
func TestDaysFromCivil(t *testing.T) {
	for y := 1000; y <= 9999; y += 7 {
		for m := 1; m <= 12; m++ {
			for _, d := range []int{1, 28, 29, 30, 31} {
				want := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400
				if got := daysFromCivil(y, m, d); got != want {
					t.Fatalf("daysFromCivil(%d, %d, %d) = %d; want %d", y, m, d, got, want)
				}
			}
		}
	}
}

// The word-at-a-time helpers agree with byte loops on every byte in every lane
// and on random words.
func TestSWARHelpers(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	words := make([][8]byte, 0, 8*256+100000)
	for lane := range 8 {
		for c := range 256 {
			w := [8]byte{'1', '2', '3', '4', '5', '6', '7', '8'}
			w[lane] = byte(c)
			words = append(words, w)
		}
	}
	for range 100000 {
		var w [8]byte
		for i := range w {
			// Mostly bytes near the classes' edges.
			w[i] = "./09:;-_%(aAzZ\x00\xff\x7f\x80\xfa1"[r.IntN(20)]
			if r.IntN(4) == 0 {
				w[i] = byte(r.IntN(256))
			}
		}
		words = append(words, w)
	}
	for _, w := range words {
		b := w[:]
		u := binary.LittleEndian.Uint64(b)
		d := 0
		for d < 8 && isDigit(b[d]) {
			d++
		}
		if got := digitRun(u); got != d {
			t.Fatalf("digitRun(%q) = %d; want %d", b, got, d)
		}
		if d > 0 && d < 8 {
			want := 0
			for _, c := range b[:d] {
				want = want*10 + int(c-'0')
			}
			if got := digitsValue(u, d); got != want {
				t.Fatalf("digitsValue(%q, %d) = %d; want %d", b, d, got, want)
			}
		}
		a := 0
		for a < 8 && (b[a] == '.' || b[a] == ':' || isDigit(b[a])) {
			a++
		}
		if got := addrRun(b); got != a {
			t.Fatalf("addrRun(%q) = %d; want %d", b, got, a)
		}
	}
	long := []byte(strings.Repeat("1234.6:8", 40))
	if got := addrRun(long); got != 256 {
		t.Errorf("addrRun of %d address bytes = %d; want 256", len(long), got)
	}
}

// parseTimestamp reads every second of random days of the years a log may
// carry as the time package formats them, with and without fractions.
func TestParseTimestamp(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 200000 {
		want := time.Unix(r.Int64N(8000*365*86400)-1000*365*86400, int64(r.IntN(1000))*1e6).UTC()
		for _, layout := range []string{"2006-01-02 15:04:05 MST", "2006-01-02 15:04:05.000 MST"} {
			s := want.Format(layout) + ":x"
			got, rest, ok := parseTimestamp([]byte(s))
			if layout == "2006-01-02 15:04:05 MST" {
				want = want.Truncate(time.Second)
			}
			if !ok || !got.Equal(want) || string(rest) != ":x" {
				t.Fatalf("parseTimestamp(%q) = %v, %q, %v; want %v", s, got, rest, ok, want)
			}
			want = want.Add(time.Duration(r.IntN(1000)) * time.Millisecond)
		}
	}
}
