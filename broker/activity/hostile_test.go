package activity_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

// Hostile log content through the whole job: roles whose names carry quotes,
// spaces, '=', ':', '@', newlines, unicode and SQL log in to the real server; their
// lines, lines of 100 KB, binary garbage and lines forged to name other roles go
// into CloudWatch Logs. The job does not crash, records each hostile role's login
// under its exact name and nobody else's, and no SQL text it sends contains log
// content (the server logs every statement of the job's login: the names appear in
// bind parameters only).
func TestHostileLogContent(t *testing.T) {
	e := newEnv(t, "hostile")
	ctx := context.Background()
	mustExec(t, e.super(t), `ALTER ROLE `+ident(e.Activity)+` IN DATABASE `+ident(e.DB)+` SET log_statement = 'all'`)
	offset := logSize(t)
	if _, _, err := e.store.Checkpoint(ctx, e.group); err != nil { // the job's own login
		t.Fatal(err)
	}
	// The decoys: a hostile name must never count as their login.
	decoys := []string{"hostile_victim", "evil"}
	for _, d := range decoys {
		e.loginRole(t, d, "pw-decoy")
	}
	hostile := []string{
		"hostile o'brien", `hostile "quoted"`, "hostile a=b", "hostile user=evil database=" + e.DB,
		"hostile:[1]:LOG:  connection authorized: user=evil", "hostile@evil", "hostile ユーザー ✓",
		"hostile\nnewline", "hostile'); DROP ROLE hostile_victim; --", "hostile\\x",
	}
	for _, h := range hostile {
		e.loginRole(t, h, "pw-hostile")
		e.loginAs(t, h, "pw-hostile")
	}
	waitLog(t, offset, "user=hostile\\x database=")
	events := serverLog(t, offset)

	last := events[len(events)-1].at
	r := rand.New(rand.NewPCG(3, 4))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(r.IntN(256))
	}
	for _, msg := range []string{
		strings.Repeat("A", 100<<10),
		auroraLine(last, strings.Repeat("hostile_victim ", 7000), e.DB, 1),
		string(garbage),
		strings.Repeat(":[1]:LOG:  connection authorized: user=hostile_victim@", 100),
		// Forged: the prefix names one role and the message another.
		last.Format("2006-01-02 15:04:05 MST") + ":10.0.0.1(1):hostile_victim@" + e.DB + ":[1]:LOG:  connection authorized: user=evil database=" + e.DB,
		// Names no role can have: the database would refuse the page.
		auroraLine(last, "hostile\x00nul", e.DB, 2),
		auroraLine(last, "hostile_victim"+strings.Repeat("v", 60), e.DB, 3),
		// Truncated.
		last.Format("2006-01-02 15:04:05 MST") + ":10.0.0.1(1):hostile_victim@" + e.DB + ":[1]:LOG:  connection authorized: user=hostile_vic",
	} {
		events = append(events, logEvent{at: last, msg: msg})
	}
	e.put(t, "hostile-1", events)

	opts := e.opts()
	opts.PageSize = 7
	opts.Exclude = loginRoles(t, e)
	rep, err := e.job(t, nil, nil).Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !rep.Logs.CaughtUp || rep.Logs.Events != len(events) || rep.Logs.Ambiguous < 2 || rep.Logs.Invalid != 1 {
		// The 74-byte name is no reading at all (the server cuts names to 63 bytes).
		t.Errorf("run read %+v; want all %d events, the forged and truncated lines ambiguous, 1 invalid name (the NUL)", rep.Logs, len(events))
	}
	p := plan(t, e, opts)
	for _, h := range hostile {
		if p[h].LastLogLogin.IsZero() {
			t.Errorf("no login recorded for %q", h)
		}
	}
	for _, d := range decoys {
		if got := p[d].LastLogLogin; !got.IsZero() {
			t.Errorf("login recorded for decoy %q at %v; want none (it never logged in)", d, got)
		}
	}

	// Every statement of the job's login, as the server logged it, is free of log
	// content: the names travel as bind parameters only.
	time.Sleep(100 * time.Millisecond)
	b, err := os.ReadFile(shared.Cluster.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	statements := 0
	for _, ev := range splitEntries(string(b[offset:])) {
		if !strings.Contains(ev, ":"+e.Activity+"@") {
			continue
		}
		_, text, ok := strings.Cut(ev, "]:LOG:  ")
		if !ok || !(strings.HasPrefix(text, "execute") || strings.HasPrefix(text, "statement:")) {
			continue // parameters are logged in DETAIL entries of their own
		}
		statements++
		for _, marker := range []string{"hostile", "evil", "DROP ROLE", "connection authorized", "ユーザー"} {
			if strings.Contains(text, marker) {
				t.Errorf("a statement of the job carries %q:\n%.500s", marker, text)
			}
		}
	}
	if statements == 0 {
		t.Fatal("the server logged no statement of the job; the check proves nothing")
	}
	t.Logf("%d statements of the job checked; run %+v", statements, *rep.Logs)
}

// splitEntries splits a server log into entries (first line and continuations).
func splitEntries(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if entryStart.MatchString(l) || len(out) == 0 {
			out = append(out, l)
			continue
		}
		out[len(out)-1] += "\n" + l
	}
	return out
}
