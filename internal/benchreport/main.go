package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

type sample struct {
	ns, bytes, allocs, lines []float64
	maxRatio                 float64
}

// dur formats nanoseconds with a unit that fits.
func dur(ns float64) string {
	return time.Duration(ns).Round(time.Duration(1) * roundTo(ns)).String()
}

func roundTo(ns float64) time.Duration {
	switch {
	case ns >= 1e7:
		return 10 * time.Microsecond
	case ns >= 1e4:
		return 10 * time.Nanosecond
	}
	return 1
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func main() {
	var (
		line     = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)
		bytesOp  = regexp.MustCompile(`\s([\d.]+) B/op`)
		allocsOp = regexp.MustCompile(`\s([\d.]+) allocs/op`)
		limit    = regexp.MustCompile(`\s([\d.]+) max-ratio`)
		linesSec = regexp.MustCompile(`\s([\d.e+]+) lines/s`)
	)
	samples := map[string]*sample{}
	var order []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s, ok := samples[m[1]]
		if !ok {
			s = &sample{}
			samples[m[1]] = s
			order = append(order, m[1])
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		s.ns = append(s.ns, ns)
		if b := bytesOp.FindStringSubmatch(sc.Text()); b != nil {
			v, _ := strconv.ParseFloat(b[1], 64)
			s.bytes = append(s.bytes, v)
		}
		if x := linesSec.FindStringSubmatch(sc.Text()); x != nil {
			v, _ := strconv.ParseFloat(x[1], 64)
			s.lines = append(s.lines, v)
		}
		if l := limit.FindStringSubmatch(sc.Text()); l != nil {
			s.maxRatio, _ = strconv.ParseFloat(l[1], 64)
		}
		if a := allocsOp.FindStringSubmatch(sc.Text()); a != nil {
			v, _ := strconv.ParseFloat(a[1], 64)
			s.allocs = append(s.allocs, v)
		}
	}
	fmt.Printf("%-44s %12s %12s %8s %10s %8s %12s  %s\n", "benchmark (median of runs)", "time/op", "floor/op", "ratio", "B/op", "allocs/op", "lines/s", "limit")
	over := 0
	for _, name := range order {
		if isFloor(name) {
			continue
		}
		s := samples[name]
		floor, hasFloor := samples[floorName(name)]
		ratio, floorText, limitText, linesText := "-", "-", "", "-"
		if len(s.lines) > 0 {
			linesText = fmt.Sprintf("%.0f", median(s.lines))
		}
		if hasFloor {
			r := median(s.ns) / median(floor.ns)
			ratio, floorText = fmt.Sprintf("%.2f", r), dur(median(floor.ns))
			if s.maxRatio > 0 {
				limitText = fmt.Sprintf("<= %.2f ok", s.maxRatio)
				if r > s.maxRatio {
					limitText = fmt.Sprintf("<= %.2f EXCEEDED", s.maxRatio)
					over++
				}
			}
		}
		fmt.Printf("%-44s %12s %12s %8s %10.0f %8.0f %12s  %s\n", strings.TrimPrefix(name, "Benchmark"),
			dur(median(s.ns)), floorText, ratio, median(s.bytes), median(s.allocs), linesText, limitText)
	}
	if p, ok := samples["BenchmarkParse"]; ok && len(p.lines) > 0 {
		fmt.Printf("\nactivity log parser: %.0f lines/s on one core (median of runs)\n", median(p.lines))
	}
	if over > 0 {
		fmt.Printf("\n%d benchmark(s) over their limit\n", over)
		os.Exit(1)
	}
}

// floorName is the name of the baseline of benchmark name: BenchmarkX -> BenchmarkXFloor,
// BenchmarkX/case -> BenchmarkXFloor/case.
func floorName(name string) string {
	if i := strings.Index(name, "/"); i >= 0 {
		return name[:i] + "Floor" + name[i:]
	}
	return name + "Floor"
}

func isFloor(name string) bool {
	top, _, _ := strings.Cut(name, "/")
	return strings.HasSuffix(top, "Floor")
}
