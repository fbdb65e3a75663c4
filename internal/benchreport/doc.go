// Command benchreport reads `go test -bench -benchmem` output on stdin and prints, for
// every benchmark X that has a baseline XFloor measured in the same run, the median
// time of each and their ratio, with memory and allocations per operation, and the
// median of a "lines/s" metric where a benchmark reports one (the parser's speed).
// A benchmark that reports a "max-ratio" metric (b.ReportMetric(5, "max-ratio")) has
// that limit checked against its ratio to XFloor: benchreport exits with status 1 when
// the ratio exceeds it. Limits belong only to ratios that measure this program, not
// the machine's load.
package main
