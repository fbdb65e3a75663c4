// Command benchreport reads `go test -bench -benchmem` output on stdin and prints, for
// every benchmark X that has a baseline XFloor measured in the same run, the median
// time of each and their ratio, with memory and allocations per operation. A
// benchmark that reports a "max-ratio" metric (b.ReportMetric(5, "max-ratio")) has
// that limit checked against its ratio to XFloor or, when it measures its floor
// itself in alternating blocks, against the median of its "x-floor" metric:
// benchreport exits with status 1 when the ratio exceeds it.
package main
