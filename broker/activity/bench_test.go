package activity_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/ffbroker/ffbroker/broker/activity"
)

// benchLines is a generated log of a million lines in Aurora's format, the mix a
// busy cluster publishes through the filter: received and authorized lines (with
// and without application name and SSL), authenticated lines, some others.
var benchLines = sync.OnceValue(func() [][]byte {
	const n = 1_000_000
	r := rand.New(rand.NewPCG(7, 7))
	users := []string{"app_user", "report_reader", "etl_loader", "john doe", "svc-billing", "my_pg_app", "o'brien", "analytics_ro"}
	dbs := []string{"my-pg-db", "postgres", "analytics"}
	apps := []string{"", " application_name=psql", " application_name=PostgreSQL JDBC Driver", " application_name=pgx"}
	buf := make([]byte, 0, n*150)
	ends := make([]int, 0, n)
	t0 := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ts := t0.Add(time.Duration(i) * 20 * time.Millisecond).Format("2006-01-02 15:04:05 MST")
		host := fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256))
		port, pid := 30000+r.IntN(30000), 10000+r.IntN(90000)
		u, d := users[r.IntN(len(users))], dbs[r.IntN(len(dbs))]
		switch k := r.IntN(100); {
		case k < 45:
			buf = fmt.Appendf(buf, "%s:%s(%d):[unknown]@[unknown]:[%d]:LOG:  connection received: host=%s port=%d", ts, host, port, pid, host, port)
		case k < 90:
			ssl := ""
			if r.IntN(2) == 0 {
				ssl = sslPG14
			}
			buf = fmt.Appendf(buf, "%s:%s(%d):%s@%s:[%d]:LOG:  connection authorized: user=%s database=%s%s%s",
				ts, host, port, u, d, pid, u, d, apps[r.IntN(len(apps))], ssl)
		case k < 95:
			buf = fmt.Appendf(buf, `%s:%s(%d):%s@%s:[%d]:LOG:  connection authenticated: identity="%s" method=scram-sha-256 (/rdsdbdata/config/pg_hba.conf:13)`,
				ts, host, port, u, d, pid, u)
		default:
			buf = fmt.Appendf(buf, "%s:%s(%d):%s@%s:[%d]:LOG:  disconnection: session time: 0:00:%02d.%03d user=%s database=%s host=%s port=%d",
				ts, host, port, u, d, pid, r.IntN(60), r.IntN(1000), u, d, host, port)
		}
		ends = append(ends, len(buf))
	}
	lines := make([][]byte, n)
	start := 0
	for i, end := range ends {
		lines[i] = buf[start:end:end]
		start = end
	}
	return lines
})

var sinkKind activity.Kind
var sinkInt int

// BenchmarkParse is Parse on the generated log: one op is one line; lines/s is per
// core (the benchmark runs on one goroutine), which make bench prints. It must
// allocate nothing (TestParseAllocatesNothing holds every path to that).
func BenchmarkParse(b *testing.B) {
	lines := benchLines()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkKind = activity.Parse(lines[i%len(lines)]).Kind
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	if n := testing.AllocsPerRun(100, func() { sinkKind = activity.Parse(lines[7]).Kind }); n != 0 {
		b.Fatalf("Parse allocates %v times a line; want 0", n)
	}
}

// BenchmarkParseFloor is the floor make bench prints Parse's ratio to (no limit:
// the ratio moves with the machine's load): one bytes.IndexByte scan over each of
// the same lines, the least any reader of the line does.
func BenchmarkParseFloor(b *testing.B) {
	lines := benchLines()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkInt += bytes.IndexByte(lines[i%len(lines)], '\n')
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// runBench is a log group in moto with runBenchLines generated connection lines of
// existing roles, shared by the end-to-end benchmark and its floor.
const runBenchLines = 20_000

var runBench struct {
	once sync.Once
	e    *env
}

func runBenchEnv(b *testing.B) *env {
	shared.Moto(b)
	runBench.once.Do(func() {
		e := newEnv(b, "bench")
		lines := benchLines()
		at := time.Now().Add(-time.Hour)
		events := make([]logEvent, 0, runBenchLines)
		for i := 0; len(events) < runBenchLines; i++ {
			l := lines[i]
			// Give each line a time within the last hour, in order.
			events = append(events, logEvent{at: at.Add(time.Duration(len(events)) * 100 * time.Millisecond), msg: string(l)})
		}
		e.put(b, "bench-1", events)
		runBench.e = e
	})
	if runBench.e == nil {
		b.Fatal("benchmark fixture failed")
	}
	return runBench.e
}

// BenchmarkRunMoto is a whole run end to end: FilterLogEvents through moto in pages
// of 10,000, parsing, and a commit of each page's logins and checkpoint in
// PostgreSQL (policy off). One op reads the runBenchLines lines from a fresh
// checkpoint.
func BenchmarkRunMoto(b *testing.B) {
	e := runBenchEnv(b)
	ctx := context.Background()
	s := e.super(b)
	j := e.job(b, nil, nil)
	opts := e.opts()
	opts.PageSize, opts.LockAfterDays, opts.DropAfterDays = 10_000, 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		mustExec(b, s, `DELETE FROM db_admin.activity_checkpoint`)
		b.StartTimer()
		rep, err := j.Run(ctx, opts)
		if err != nil || rep.Logs.Events != runBenchLines {
			b.Fatalf("Run = %+v, %v; want %d events", rep.Logs, err, runBenchLines)
		}
	}
	b.ReportMetric(float64(b.N*runBenchLines)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkRunMotoFloor is the floor of a run: the same FilterLogEvents pages
// through moto, with nothing parsed and nothing recorded.
func BenchmarkRunMotoFloor(b *testing.B) {
	e := runBenchEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		var token *string
		for {
			out, err := e.logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(e.group),
				FilterPattern: aws.String(activity.FilterPattern), Limit: aws.Int32(10_000),
				//lint:ignore SA1019 moto_server interleaves the streams only when asked to
				Interleaved: aws.Bool(true),
				StartTime:   aws.Int64(0), EndTime: aws.Int64(time.Now().UnixMilli()), NextToken: token})
			if err != nil {
				b.Fatal(err)
			}
			n += len(out.Events)
			if token = out.NextToken; token == nil {
				break
			}
		}
		if n != runBenchLines {
			b.Fatalf("read %d events; want %d", n, runBenchLines)
		}
	}
	b.ReportMetric(float64(b.N*runBenchLines)/b.Elapsed().Seconds(), "lines/s")
}
