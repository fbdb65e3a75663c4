package broker

import (
	"reflect"
	"testing"

	"github.com/ffbroker/ffbroker/identity"
)

// The rule table as pure cases: each rule's grant and each of its refusals, with the
// code the caller gets.

var (
	alice   = Caller{ARN: "arn:aws:iam::111122223333:user/alice", Key: "111122223333:user/alice", CanAsk: true, CanAskApproval: true}
	bob     = Caller{ARN: "arn:aws:iam::111122223333:user/bob", Key: "111122223333:user/bob", CanAsk: true, CanApprove: true}
	onCall  = Caller{ARN: "arn:aws:sts::111122223333:assumed-role/oncall/ci-runner", Key: "111122223333:role/oncall", CanAsk: true}
	nobody  = Caller{ARN: "arn:aws:iam::111122223333:user/eve", Key: "111122223333:user/eve"}
	noProof = Caller{}
	roReq   = ValidRequest{RoleName: "my_pg_firefighter_ro", Kind: RoleRO, IncidentID: "INC-1", Hours: 1}
	rwReq   = ValidRequest{RoleName: "my_pg_firefighter_rw", Kind: RoleRW, IncidentID: "INC-1", Hours: 1, NeedsApproval: true}
)

// upper is c with its key in upper case: keys compare without case.
func upper(c Caller) Caller {
	b := []byte(c.Key)
	for i, ch := range b {
		if ch >= 'a' && ch <= 'z' {
			b[i] = ch - 'a' + 'A'
		}
	}
	c.Key = string(b)
	return c
}

func codeOf(err error) Code {
	if err == nil {
		return ""
	}
	return ErrorCode(err)
}

func TestReviewAskAdmitsByStandingAndRole(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    Caller
		v    ValidRequest
		want Code
	}{
		{"a person on the requesters' list asks for ro", alice, roReq, ""},
		{"a person on the requesters' list asks for rw", alice, rwReq, ""},
		{"a listed role session asks for ro", onCall, roReq, ""},
		{"a listed role session may not ask for rw", onCall, rwReq, CodeForbidden},
		{"someone not on the list may not ask for ro", nobody, roReq, CodeForbidden},
		{"someone not on the list may not ask for rw", nobody, rwReq, CodeForbidden},
		{"no verified caller", noProof, roReq, CodeUnauthenticated},
		{"an ARN without a key is not verified", Caller{ARN: alice.ARN, CanAsk: true, CanAskApproval: true}, rwReq, CodeUnauthenticated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeOf(reviewAsk(tt.c, tt.v)); got != tt.want {
				t.Errorf("reviewAsk = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestReviewDirectIssueOnlyForARoleWithoutApproval(t *testing.T) {
	for _, tt := range []struct {
		name     string
		arn, key string
		v        ValidRequest
		want     Code
	}{
		{"ro to a verified requester", alice.ARN, alice.Key, roReq, ""},
		{"rw needs a request and a second person", alice.ARN, alice.Key, rwReq, CodeForbidden},
		{"no requester key", alice.ARN, "", roReq, CodeUnauthenticated},
		{"no requester", "", alice.Key, roReq, CodeUnauthenticated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeOf(reviewDirectIssue(tt.arn, tt.key, tt.v)); got != tt.want {
				t.Errorf("reviewDirectIssue = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestReviewDecideRefusesTheRequesterAndNonApprovers(t *testing.T) {
	pending := AccessRequest{ID: "r1", State: StatePending, Requester: alice.ARN, RequesterKey: alice.Key}
	approvedByBob := pending
	approvedByBob.State, approvedByBob.Approver, approvedByBob.ApproverKey = StateApproved, bob.ARN, bob.Key
	aliceApprover := alice
	aliceApprover.CanApprove = true
	aliceSession := Caller{ARN: "arn:aws:sts::111122223333:assumed-role/sso/alice", Key: alice.Key, CanApprove: true}
	for _, tt := range []struct {
		name string
		c    Caller
		req  AccessRequest
		want Code
	}{
		{"an approver decides another person's pending request", bob, pending, ""},
		{"the same decision again goes on to the database (a retry)", bob, approvedByBob, ""},
		{"the requester may not decide her own request", aliceApprover, pending, CodeForbidden},
		{"nor under another ARN with her key", aliceSession, pending, CodeForbidden},
		{"nor with her key in another case", upper(aliceApprover), pending, CodeForbidden},
		{"nor once it is decided", aliceApprover, approvedByBob, CodeForbidden},
		{"someone not on the approvers' list", nobody, pending, CodeForbidden},
		{"a person asking but not approving", alice, pending, CodeForbidden},
		{"no verified caller", noProof, pending, CodeUnauthenticated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeOf(reviewDecide(tt.c, tt.req)); got != tt.want {
				t.Errorf("reviewDecide = %q; want %q", got, tt.want)
			}
			if got, want := mayDecide(tt.c, tt.req), tt.want == ""; got != want {
				t.Errorf("mayDecide = %v; want %v", got, want)
			}
		})
	}
}

func TestReviewApproverNeedsTheApproversList(t *testing.T) {
	for _, tt := range []struct {
		c    Caller
		want Code
	}{{bob, ""}, {alice, CodeForbidden}, {onCall, CodeForbidden}, {noProof, CodeUnauthenticated}} {
		if got := codeOf(reviewApprover(tt.c)); got != tt.want {
			t.Errorf("reviewApprover(%s) = %q; want %q", tt.c.ARN, got, tt.want)
		}
	}
}

func TestMayViewItsRequesterOrAnApprover(t *testing.T) {
	req := AccessRequest{ID: "r1", RequesterKey: alice.Key}
	for _, tt := range []struct {
		c    Caller
		want bool
	}{{alice, true}, {upper(alice), true}, {bob, true}, {nobody, false}, {onCall, false}} {
		if got := mayView(tt.c, req); got != tt.want {
			t.Errorf("mayView(%s) = %v; want %v", tt.c.ARN, got, tt.want)
		}
	}
	if mayView(Caller{}, AccessRequest{}) {
		t.Error("an empty key views a request without a requester key")
	}
}

func TestReviewIssuableOnlyApprovedOrIssued(t *testing.T) {
	for state, want := range map[string]Code{StateApproved: "", StateIssued: "", StatePending: CodeForbidden,
		StateDenied: CodeForbidden, StateExpired: CodeForbidden, "": CodeForbidden} {
		if got := codeOf(reviewIssuable(AccessRequest{ID: "r1", State: state})); got != want {
			t.Errorf("reviewIssuable(%q) = %q; want %q", state, got, want)
		}
	}
}

func TestReviewRequesterProofMatchesTheLedger(t *testing.T) {
	req := AccessRequest{ID: "r1", Role: rwReq.RoleName, IncidentID: "INC-1", Hours: 1, Reason: "fix",
		Requester: alice.ARN, RequesterKey: alice.Key}
	v := rwReq
	v.Reason = "fix"
	with := func(f func(*ValidRequest)) ValidRequest { w := v; f(&w); return w }
	listedNoApproval := alice
	listedNoApproval.CanAskApproval = false
	otherARN := alice
	otherARN.ARN = "arn:aws:iam::111122223333:user/mallory"
	for _, tt := range []struct {
		name string
		v    ValidRequest
		c    Caller
		want Code
	}{
		{"the proof asks for the ledger's request, by its requester", v, alice, ""},
		{"keys compare without case", v, upper(alice), ""},
		{"another role", with(func(w *ValidRequest) { w.RoleName = roReq.RoleName }), alice, CodeForbidden},
		{"another incident", with(func(w *ValidRequest) { w.IncidentID = "INC-2" }), alice, CodeForbidden},
		{"other hours", with(func(w *ValidRequest) { w.Hours = 2 }), alice, CodeForbidden},
		{"another reason", with(func(w *ValidRequest) { w.Reason = "other" }), alice, CodeForbidden},
		{"another person's proof", v, bob, CodeForbidden},
		{"the ledger's key under another ARN", v, otherARN, CodeForbidden},
		{"a requester who may not ask for approval", v, listedNoApproval, CodeForbidden},
		{"no key in the proof", v, Caller{ARN: alice.ARN, CanAskApproval: true}, CodeForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeOf(reviewRequesterProof(req, tt.v, tt.c)); got != tt.want {
				t.Errorf("reviewRequesterProof = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestReviewApproverProofIsAnotherApprover(t *testing.T) {
	req := AccessRequest{ID: "r1", Requester: alice.ARN, RequesterKey: alice.Key, Approver: bob.ARN, ApproverKey: bob.Key,
		Comment: "ok", State: StateApproved}
	approve := decisionBody{Decision: "approve", Comment: "ok"}
	bobNotApprover := bob
	bobNotApprover.CanApprove = false
	// The ledger names alice as her own approver (the approver's login forged it).
	self := req
	self.Approver, self.ApproverKey = alice.ARN, alice.Key
	aliceApprover := alice
	aliceApprover.CanApprove = true
	for _, tt := range []struct {
		name string
		req  AccessRequest
		d    decisionBody
		c    Caller
		want Code
	}{
		{"the ledger's approver approved", req, approve, bob, ""},
		{"keys compare without case", req, approve, upper(bob), ""},
		{"the proof denies", req, decisionBody{Decision: "deny", Comment: "ok"}, bob, CodeForbidden},
		{"another comment", req, decisionBody{Decision: "approve", Comment: "other"}, bob, CodeForbidden},
		{"no longer an approver", req, approve, bobNotApprover, CodeForbidden},
		{"another person's proof", req, approve, aliceApprover, CodeForbidden},
		{"the requester as her own approver", self, approve, aliceApprover, CodeForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeOf(reviewApproverProof(tt.req, tt.d, tt.c)); got != tt.want {
				t.Errorf("reviewApproverProof = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestReviewExtendOnlyTheGrantsRequester(t *testing.T) {
	g := &Grant{ID: "g1", Role: rwReq.RoleName, IncidentID: "INC-1", RequesterKey: alice.Key, ApproverKey: bob.Key}
	for _, tt := range []struct {
		name string
		c    Caller
		g    *Grant
		want Code
	}{
		{"its requester", alice, g, ""},
		{"its requester, key in another case", upper(alice), g, ""},
		{"its approver", bob, g, CodeForbidden},
		{"someone else", nobody, g, CodeForbidden},
		{"no live grant", alice, nil, CodeNotFound},
		{"a grant without a requester key", alice, &Grant{ID: "g2"}, CodeForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeOf(reviewExtend(tt.c, rwReq.RoleName, tt.g)); got != tt.want {
				t.Errorf("reviewExtend = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestReviewRevokeEndsOwnGrantsOrAnApproversIncident(t *testing.T) {
	ro, rw := roReq.RoleName, rwReq.RoleName
	carol := Caller{ARN: "arn:aws:iam::111122223333:user/carol", Key: "111122223333:user/carol", CanAsk: true}
	live := []Grant{
		{ID: "a1", Role: ro, IncidentID: "INC-1", RequesterKey: alice.Key},
		{ID: "c1", Role: ro, IncidentID: "INC-1", RequesterKey: carol.Key},
		{ID: "c2", Role: ro, IncidentID: "INC-2", RequesterKey: carol.Key},
		{ID: "w1", Role: rw, IncidentID: "INC-1", RequesterKey: alice.Key, ApproverKey: bob.Key},
	}
	approverNotParty := Caller{ARN: "arn:aws:iam::111122223333:user/dan", Key: "111122223333:user/dan", CanApprove: true}
	for _, tt := range []struct {
		name     string
		c        Caller
		role     string
		incident string
		want     []string
		code     Code
	}{
		{"the requester ends her own grant only", alice, ro, "INC-1", []string{"a1"}, ""},
		{"her key in another case", upper(alice), ro, "INC-1", []string{"a1"}, ""},
		{"another requester ends hers, not the other incident's", carol, ro, "INC-1", []string{"c1"}, ""},
		{"the grant's approver ends it", bob, rw, "INC-1", []string{"w1"}, ""},
		{"an approver ends every grant of the role for the incident", approverNotParty, ro, "INC-1", []string{"a1", "c1"}, ""},
		{"no party and no approver", nobody, ro, "INC-1", nil, CodeForbidden},
		{"a party of the role, none of the incident's grants", alice, ro, "INC-2", nil, CodeForbidden},
		{"no live grant of the incident", alice, ro, "INC-9", nil, CodeNotFound},
		{"no live grant of the role", alice, ro, "INC-1", nil, CodeNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			grants := live
			if tt.name == "no live grant of the role" {
				grants = live[3:]
			}
			got, err := reviewRevoke(tt.c, tt.role, tt.incident, grants)
			if codeOf(err) != tt.code || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("reviewRevoke = %v, %q; want %v, %q", got, codeOf(err), tt.want, tt.code)
			}
		})
	}
}

func TestStandingFromTheAllowlists(t *testing.T) {
	const acct = "arn:aws:iam::111122223333:"
	pats := func(s string) identity.Patterns {
		p, err := identity.ParsePatterns(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	approvers, requesters := pats(acct+"user/bob"), pats(acct+"user/alice,"+acct+"user/bob,"+acct+"role/oncall")
	for _, tt := range []struct {
		name, arn                 string
		requesters                identity.Patterns
		approve, ask, askApproval bool
	}{
		{"a listed person asks for both", acct + "user/alice", requesters, false, true, true},
		{"a listed approver approves and asks", acct + "user/bob", requesters, true, true, true},
		{"a listed role's session asks for ro only", "arn:aws:sts::111122223333:assumed-role/oncall/ci-runner", requesters, false, true, false},
		{"an unlisted person asks for nothing", acct + "user/eve", requesters, false, false, false},
		{"no requesters' list: a person asks for ro only", acct + "user/eve", identity.Patterns{}, false, true, false},
		{"no requesters' list: a role session asks for nothing", "arn:aws:sts::111122223333:assumed-role/oncall/ci-runner", identity.Patterns{}, false, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := identity.ParsePrincipal(tt.arn, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := Standing(p, approvers, tt.requesters)
			if c.ARN != p.ARN || c.Key != p.Key || c.CanApprove != tt.approve || c.CanAsk != tt.ask || c.CanAskApproval != tt.askApproval {
				t.Errorf("Standing(%s) = %+v; want approve %v, ask %v, ask approval %v", tt.arn, c, tt.approve, tt.ask, tt.askApproval)
			}
		})
	}
}
