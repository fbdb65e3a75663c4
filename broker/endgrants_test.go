package broker_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/iamsim"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// notices records what the broker would publish.
type notices struct {
	mu  sync.Mutex
	got []broker.Notification
}

func (n *notices) Notify(_ context.Context, x broker.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, x)
	return nil
}

// take returns "kind grant recipient" for each notice since the last take.
func (n *notices) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, x := range n.got {
		out = append(out, x.Kind+" "+x.Grant.GrantID+" "+x.Request.RequesterKey)
	}
	n.got = nil
	return out
}

// Two people hold ro for different incidents; one revokes hers. Only her grant ends:
// the other stays live in the ledger and keeps access with a new password (rotated
// under the role's lock), which only its requester may read; the revoker's password is
// refused, every session of the shared role is terminated, the audit trail names the
// ended grant and the revoker alone is told. Then the other grant reaches its expiry
// while a new one of the revoker is live: the same again, by the sweep.
func TestRevokeEndsOnlyTheRevokersGrant(t *testing.T) {
	ctx := context.Background()
	const prefix = "endone"
	f := newFixture(t, prefix)
	d := f.deps(t)
	d.sstore.WithFunctionRoles(issueFnRole, expireFnRole)
	notes := &notices{}
	b, err := broker.New(broker.Config{
		Policy: broker.DefaultPolicy(prefix), DB: d.db, Secrets: d.secrets, Audit: d.sink, Notifier: notes,
		Target: broker.Target{Host: shared.Cluster.Host, Port: shared.Cluster.Port, DBName: f.DB, SSLMode: "disable"},
		Proofs: newProofs(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	tpl := templateOf(t, f, prefix)
	onCall := map[string]any{"OnCallPolicy": tpl.ManagedPolicy(t, "OnCallPolicy")}
	ps := map[string]principal{}
	for _, n := range []string{"alice", "carol"} {
		p := userPrincipal(t, n)
		p.policies = onCall
		ps[n] = p
	}
	smc := sm.NewFromConfig(shared.Moto(t).Config(ctx))
	reads := func(t *testing.T) map[string]string {
		t.Helper()
		pol, err := smc.GetResourcePolicy(ctx, &sm.GetResourcePolicyInput{SecretId: aws.String(broker.SecretName(f.secretPrefix, f.FirefighterRO))})
		if err != nil {
			t.Fatal(err)
		}
		names := []string{"alice", "carol"}
		var reqs []iamsim.Request
		for _, n := range names {
			p := ps[n]
			reqs = append(reqs, iamsim.Request{Principal: p.arn, Action: "secretsmanager:GetSecretValue", Resource: aws.ToString(pol.ARN), Account: awstest.AccountID,
				Context: map[string]string{"aws:PrincipalArn": p.roleARN, "aws:userid": p.userID, "aws:PrincipalAccount": awstest.AccountID,
					"aws:CurrentTime": time.Now().UTC().Format(time.RFC3339)},
				Identity: p.policies, ResourcePolicy: aws.ToString(pol.ResourcePolicy)})
		}
		res := iamsim.Evaluate(t, reqs)
		return map[string]string{names[0]: res[0], names[1]: res[1]}
	}
	issue := func(t *testing.T, who, incident string, hours int) broker.IssueOutput {
		t.Helper()
		body, _ := json.Marshal(broker.Request{Role: "ro", IncidentID: incident, Hours: hours, Reason: "stuck orders"})
		out, err := b.Submit(ctx, broker.SubmitInput{Body: body, Caller: verified(t, people(t)[who], "POST", "/access", body), Source: audit.SourceAPI})
		if err != nil || out.Grant == nil {
			t.Fatalf("Submit(ro, %s) as %s = %+v, %v; want a grant", incident, who, out, err)
		}
		return *out.Grant
	}
	live := func(t *testing.T) []string {
		t.Helper()
		grants, err := d.store.LiveGrants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, g := range grants {
			if g.Role == f.FirefighterRO {
				ids = append(ids, g.ID)
			}
		}
		return ids
	}
	// ended returns "grant incident requester message" of each grant.ended record since
	// record from.
	ended := func(t *testing.T, from int) []string {
		t.Helper()
		var out []string
		for _, r := range f.audit.Records(t)[from:] {
			if r["event"] == string(audit.EventGrantEnded) {
				out = append(out, strings.Join([]string{r["grant_id"].(string), r["incident_id"].(string), r["requester"].(string), r["message"].(string)}, " "))
			}
		}
		return out
	}
	// holdsAccess checks that AWSCURRENT is a new version for grant keep that logs in,
	// and that gone (the ended holder's password) is refused.
	holdsAccess := func(t *testing.T, version, keep string, gone broker.SecretValue) {
		t.Helper()
		cur, v, _ := f.current(t, f.FirefighterRO)
		if v != version || cur.GrantID != keep || cur.Password.Len() < 32 {
			t.Errorf("AWSCURRENT = version %s of grant %s; want the rotated version %s of %s", v, cur.GrantID, version, keep)
		}
		c, err := loginWith(ctx, cur)
		if err != nil {
			t.Fatalf("login with the rotated password: %v", err)
		}
		var user string
		if err := c.QueryRow(ctx, `SELECT current_user`).Scan(&user); err != nil || user != f.FirefighterRO {
			t.Errorf("rotated password logs in as %q (%v); want %s", user, err, f.FirefighterRO)
		}
		c.Close(ctx)
		if _, err := loginWith(ctx, gone); pgtest.SQLState(err) != "28P01" {
			t.Errorf("login with the ended grant's password: %v; want SQLSTATE 28P01", err)
		}
	}

	aliceKey, carolKey := ps["alice"].arn, ps["carol"].arn
	a := issue(t, "alice", "INC-A1", 2)
	c := issue(t, "carol", "INC-C1", 1)
	carolPassword, _, _ := f.current(t, f.FirefighterRO) // the role's password: carol's grant activated last
	openSessions(t, f, f.FirefighterRO, 2)
	if r := reads(t); r["alice"] != iamsim.Allowed || r["carol"] != iamsim.Allowed {
		t.Fatalf("before the revoke reads = %v; want both allowed", r)
	}
	notes.take()
	from := len(f.audit.Records(t))

	out, err := b.Revoke(ctx, broker.RevokeInput{Role: "ro", IncidentID: "INC-C1", Caller: verified(t, people(t)["carol"], "DELETE", "/access/ro", nil), Source: audit.SourceAPI})
	if err != nil {
		t.Fatalf("Revoke(ro, INC-C1) as carol: %v", err)
	}
	if out.AllGrantsEnded || !out.PasswordRotated || out.GrantsClosed != 1 || strings.Join(out.EndedGrants, ",") != c.GrantID || out.SessionsTerminated != 2 {
		t.Errorf("Revoke = %+v; want carol's grant %s ended, the password rotated, 2 sessions terminated", out, c.GrantID)
	}
	if got := live(t); strings.Join(got, ",") != a.GrantID {
		t.Errorf("live ro grants after carol's revoke = %v; want alice's %s", got, a.GrantID)
	}
	if n := sessionCount(t, f, f.FirefighterRO); n != 0 {
		t.Errorf("ro sessions after the revoke = %d; want 0 (a shared role's sessions cannot be told apart)", n)
	}
	holdsAccess(t, out.SecretVersion, a.GrantID, carolPassword)
	if r := reads(t); r["alice"] != iamsim.Allowed || r["carol"] != iamsim.ExplicitlyDenied {
		t.Errorf("after carol's revoke reads = %v; want alice %s, carol %s", r, iamsim.Allowed, iamsim.ExplicitlyDenied)
	}
	if got, want := ended(t, from), []string{c.GrantID + " INC-C1 " + carolKey + " grant ended: revoked"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("grant.ended records = %q; want %q", got, want)
	}
	if got, want := notes.take(), []string{"revoked " + c.GrantID + " " + carolKey}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("notices = %q; want %q (none to alice)", got, want)
	}

	// Carol asks again; alice's grant reaches its expiry while carol's is live.
	c2 := issue(t, "carol", "INC-C2", 1)
	openSessions(t, f, f.FirefighterRO, 1)
	before, _, _ := f.current(t, f.FirefighterRO) // carol's new grant's: the role's password until alice's grant ends
	if _, err := f.super(t).Exec(ctx, `UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '3 hours',
		expires_at = expires_at - interval '3 hours' WHERE grant_id = $1`, a.GrantID); err != nil {
		t.Fatal(err)
	}
	notes.take()
	from = len(f.audit.Records(t))
	sw, err := b.Sweep(ctx, "sweep-1", audit.SourceSchedule)
	if err != nil || len(sw.Expired) != 0 || strings.Join(sw.Ended, ",") != a.GrantID {
		t.Fatalf("Sweep = %+v, %v; want alice's grant %s ended and ro not expired", sw, err, a.GrantID)
	}
	if got := live(t); strings.Join(got, ",") != c2.GrantID {
		t.Errorf("live ro grants after the sweep = %v; want carol's %s", got, c2.GrantID)
	}
	_, version, _ := f.current(t, f.FirefighterRO)
	if version == c2.GrantID {
		t.Errorf("AWSCURRENT after alice's expiry = carol's own version %s; want a rotated one", version)
	}
	holdsAccess(t, version, c2.GrantID, before)
	if n := sessionCount(t, f, f.FirefighterRO); n != 0 {
		t.Errorf("ro sessions after the sweep = %d; want 0", n)
	}
	if r := reads(t); r["alice"] != iamsim.ExplicitlyDenied || r["carol"] != iamsim.Allowed {
		t.Errorf("after alice's expiry reads = %v; want alice %s, carol %s", r, iamsim.ExplicitlyDenied, iamsim.Allowed)
	}
	if got, want := ended(t, from), []string{a.GrantID + " INC-A1 " + aliceKey + " grant ended: expired"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("grant.ended records = %q; want %q", got, want)
	}
	if got, want := notes.take(), []string{"expired " + a.GrantID + " " + aliceKey}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("notices = %q; want %q", got, want)
	}
	if sw, err := b.Sweep(ctx, "sweep-2", audit.SourceSchedule); err != nil || len(sw.Ended)+len(sw.Expired)+len(sw.Repaired) != 0 {
		t.Errorf("second sweep = %+v, %v; want nothing to do", sw, err)
	}
}

// A party of the role who holds nothing for the named incident, and is no approver,
// ends nothing: forbidden, and the incident's grant stays live with its password.
func TestRevokeOfAnotherIncidentIsForbidden(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "endother")
	d := f.deps(t)
	b := f.broker(t, d)
	if _, err := issueRO(ctx, b, "INC-A"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-M"}, Requester: mallory, RequesterKey: mallory, Source: audit.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	before := f.dbState(t)
	_, err := b.Revoke(ctx, broker.RevokeInput{Role: "ro", IncidentID: "INC-A", Caller: broker.Caller{ARN: mallory, Key: mallory}, Source: audit.SourceAPI})
	if got := broker.ErrorCode(err); got != broker.CodeForbidden {
		t.Fatalf("Revoke(ro, INC-A) by mallory: code %q (%v); want %s", got, err, broker.CodeForbidden)
	}
	if after := f.dbState(t); after != before {
		t.Errorf("a refused revoke changed the database:\nbefore %s\nafter  %s", before, after)
	}
}
