package activity

import (
	"strings"
	"testing"
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
