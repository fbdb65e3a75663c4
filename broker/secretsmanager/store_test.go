package secretsmanager_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/secretsmanager"
	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/secretstest"
)

const secretsTestRole = secretstest.Role

// secretsFixture is one test's view of a fresh moto_server.
type secretsFixture struct {
	client *sm.Client
	spy    *secretstest.Spy
	store  *secretsmanager.Store
	name   string
}

// newFixture empties the package's moto_server and returns a store on it.
func newFixture(t *testing.T) *secretsFixture {
	t.Helper()
	srv := moto.Get(t)
	if err := srv.Reset(t.Context()); err != nil {
		t.Fatalf("reset moto_server: %v", err)
	}
	client := sm.NewFromConfig(srv.Config(t.Context()))
	spy := secretstest.NewSpy(client)
	store := secretsmanager.New(spy, "", map[string]string{"ffbroker:cluster": "my-pg-cluster"})
	return &secretsFixture{client: client, spy: spy, store: store, name: store.SecretName(secretsTestRole)}
}

// stages returns the labels of every labelled version of the fixture's secret.
func (f *secretsFixture) stages(t *testing.T) map[string][]string {
	t.Helper()
	out, err := f.client.DescribeSecret(t.Context(), &sm.DescribeSecretInput{SecretId: aws.String(f.name)})
	if err != nil {
		t.Fatalf("DescribeSecret(%s) error = %v", f.name, err)
	}
	for _, s := range out.VersionIdsToStages {
		slices.Sort(s)
	}
	return out.VersionIdsToStages
}

// holders returns the ids of the versions that carry stage, sorted.
func (f *secretsFixture) holders(t *testing.T, stage string) []string {
	t.Helper()
	var ids []string
	for id, s := range f.stages(t) {
		if slices.Contains(s, stage) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// raw reads the text of one version of the fixture's secret.
func (f *secretsFixture) raw(t *testing.T, versionID string) string {
	t.Helper()
	out, err := f.client.GetSecretValue(t.Context(), &sm.GetSecretValueInput{
		SecretId: aws.String(f.name), VersionId: aws.String(versionID),
	})
	if err != nil {
		t.Fatalf("GetSecretValue(%s, %s) error = %v", f.name, versionID, err)
	}
	return aws.ToString(out.SecretString)
}

// versionCount returns how many versions the fixture's secret has, labelled or not.
func (f *secretsFixture) versionCount(t *testing.T) int {
	t.Helper()
	out, err := f.client.ListSecretVersionIds(t.Context(), &sm.ListSecretVersionIdsInput{
		SecretId: aws.String(f.name), IncludeDeprecated: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("ListSecretVersionIds(%s) error = %v", f.name, err)
	}
	return len(out.Versions)
}

// issue runs PutPending and Promote for a new grant and returns its id and value.
func (f *secretsFixture) issue(t *testing.T) (string, broker.SecretValue) {
	t.Helper()
	id := secretstest.GrantID(t)
	_, v, err := f.store.PutPending(t.Context(), secretsTestRole, id, secretstest.GrantValue(t, id))
	if err != nil {
		t.Fatalf("PutPending(%s) error = %v", id, err)
	}
	if _, err := f.store.Promote(t.Context(), secretsTestRole, id); err != nil {
		t.Fatalf("Promote(%s) error = %v", id, err)
	}
	return id, v
}

func TestSecretName(t *testing.T) {
	tests := []struct {
		prefix, want string
	}{
		{"", "firefighter/my-pg/my_pg_firefighter_ro"},
		{"firefighter/prod", "firefighter/prod/my_pg_firefighter_ro"},
		{"firefighter/prod/", "firefighter/prod/my_pg_firefighter_ro"},
	}
	for _, tt := range tests {
		s := secretsmanager.New(nil, tt.prefix, nil)
		if got := s.SecretName(secretsTestRole); got != tt.want {
			t.Errorf("New(prefix %q).SecretName(%s) = %q; want %q", tt.prefix, secretsTestRole, got, tt.want)
		}
	}
}

// The first PutPending creates a tagged secret with a pending version.
func TestFirstPutPendingCreatesTaggedSecret(t *testing.T) {
	f := newFixture(t)
	id := secretstest.GrantID(t)
	v := secretstest.GrantValue(t, id)
	ref, stored, err := f.store.PutPending(t.Context(), secretsTestRole, id, v)
	if err != nil {
		t.Fatalf("PutPending() error = %v", err)
	}
	if got, want := ref.VersionID, id; got != want {
		t.Errorf("PutPending() version = %q; want the grant id %q", got, want)
	}
	if got, want := ref.ARN, "arn:aws:secretsmanager:us-east-1:"+awstest.AccountID+":secret:"+f.name+"-"; !strings.HasPrefix(got, want) {
		t.Errorf("PutPending() ARN = %q; want prefix %q", got, want)
	}
	if got, want := stored.Password.Reveal(), v.Password.Reveal(); got != want {
		t.Errorf("PutPending() returned a different password than it was given")
	}

	d, err := f.client.DescribeSecret(t.Context(), &sm.DescribeSecretInput{SecretId: aws.String(f.name)})
	if err != nil {
		t.Fatalf("DescribeSecret() error = %v", err)
	}
	tags := map[string]string{}
	for _, tag := range d.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	for k, want := range map[string]string{"ffbroker:role": secretsTestRole, "ffbroker:cluster": "my-pg-cluster"} {
		if got := tags[k]; got != want {
			t.Errorf("tag %s = %q; want %q", k, got, want)
		}
	}
	if got, want := d.VersionIdsToStages[id], []string{"AWSPENDING"}; !slices.Equal(got, want) {
		t.Errorf("stages of the pending version = %v; want %v", got, want)
	}
	current := f.holders(t, "AWSCURRENT")
	if len(current) != 1 || current[0] == id {
		t.Fatalf("AWSCURRENT after the first PutPending is on %v; want one version that is not the pending %s", current, id)
	}
	if cur, _, err := f.store.Current(t.Context(), secretsTestRole); err != nil || cur.Status != broker.SecretExpired || cur.Password.Len() != 0 {
		t.Errorf("Current() after the first PutPending = %v, %v; want a tombstone", cur, err)
	}

	var fields map[string]any
	if err := json.Unmarshal([]byte(f.raw(t, id)), &fields); err != nil {
		t.Fatalf("pending version is not JSON: %v", err)
	}
	want := map[string]any{
		"engine": "postgres", "host": v.Host, "port": float64(5432), "dbname": "my-pg-db",
		"username": secretsTestRole, "password": v.Password.Reveal(), "sslmode": "verify-full",
		"expires_at": "2026-03-01T12:00:00Z", "grant_id": id, "incident_id": "INC-1234", "status": "active",
	}
	for k, w := range want {
		got, ok := fields[k]
		if !ok {
			t.Errorf("pending version JSON has no field %q", k)
			continue
		}
		if got != w && k != "password" {
			t.Errorf("pending version JSON %s = %v; want %v", k, got, w)
		}
		if k == "password" && got != w {
			t.Errorf("pending version JSON password differs from the one given")
		}
	}
}

// Promote makes the version current and the previous one AWSPREVIOUS.
func TestPromoteMakesCurrentAndPrevious(t *testing.T) {
	f := newFixture(t)
	first, _ := f.issue(t)
	second := secretstest.GrantID(t)
	v := secretstest.GrantValue(t, second)
	if _, _, err := f.store.PutPending(t.Context(), secretsTestRole, second, v); err != nil {
		t.Fatalf("PutPending(second) error = %v", err)
	}
	ref, err := f.store.Promote(t.Context(), secretsTestRole, second)
	if err != nil {
		t.Fatalf("Promote(second) error = %v", err)
	}
	if got, want := ref.VersionID, second; got != want {
		t.Errorf("Promote() version = %q; want %q", got, want)
	}
	st := f.stages(t)
	if got, want := st[second], []string{"AWSCURRENT"}; !slices.Equal(got, want) {
		t.Errorf("stages of the promoted version = %v; want %v", got, want)
	}
	if got, want := st[first], []string{"AWSPREVIOUS"}; !slices.Equal(got, want) {
		t.Errorf("stages of the previously current version = %v; want %v", got, want)
	}
	if got, want := f.holders(t, "AWSCURRENT"), []string{second}; !slices.Equal(got, want) {
		t.Errorf("versions carrying AWSCURRENT = %v; want %v", got, want)
	}
	cur, curRef, err := f.store.Current(t.Context(), secretsTestRole)
	if err != nil {
		t.Fatalf("Current() error = %v", err)
	}
	if curRef != ref || cur.GrantID != second || cur.Password.Reveal() != v.Password.Reveal() {
		t.Errorf("Current() = %v, %+v; want the promoted grant %s at %+v", cur, curRef, second, ref)
	}
}

// Promote of the current version only removes AWSPENDING.
func TestPromoteOfCurrentOnlyRemovesPending(t *testing.T) {
	f := newFixture(t)
	id, _ := f.issue(t)
	before := f.versionCount(t)
	if _, err := f.store.Promote(t.Context(), secretsTestRole, id); err != nil {
		t.Fatalf("second Promote() error = %v", err)
	}
	if got, want := f.stages(t)[id], []string{"AWSCURRENT"}; !slices.Equal(got, want) {
		t.Errorf("stages after a second Promote = %v; want %v", got, want)
	}
	if got, want := f.versionCount(t), before; got != want {
		t.Errorf("versions after a second Promote = %d; want %d", got, want)
	}
}

// Promote of what does not exist is not_found.
func TestPromoteOfNothingIsNotFound(t *testing.T) {
	f := newFixture(t)
	if _, err := f.store.Promote(t.Context(), secretsTestRole, secretstest.GrantID(t)); broker.ErrorCode(err) != broker.CodeNotFound {
		t.Errorf("Promote() without a secret error = %v; want code not_found", err)
	}
	f.issue(t)
	if _, err := f.store.Promote(t.Context(), secretsTestRole, secretstest.GrantID(t)); broker.ErrorCode(err) != broker.CodeNotFound {
		t.Errorf("Promote(unknown version) error = %v; want code not_found", err)
	}
}

// PutPending retried with the same version id returns the first value and writes nothing.
func TestPutPendingRetriedReturnsFirstValue(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(t *testing.T, f *secretsFixture, id string)
		wantStages []string
	}{
		{
			name:       "while pending",
			setup:      func(t *testing.T, f *secretsFixture, id string) {},
			wantStages: []string{"AWSPENDING"},
		},
		{
			name: "after promotion",
			setup: func(t *testing.T, f *secretsFixture, id string) {
				if _, err := f.store.Promote(t.Context(), secretsTestRole, id); err != nil {
					t.Fatalf("Promote() error = %v", err)
				}
			},
			wantStages: []string{"AWSCURRENT"},
		},
		{
			name: "after another grant took AWSPENDING",
			setup: func(t *testing.T, f *secretsFixture, id string) {
				other := secretstest.GrantID(t)
				if _, _, err := f.store.PutPending(t.Context(), secretsTestRole, other, secretstest.GrantValue(t, other)); err != nil {
					t.Fatalf("PutPending(other) error = %v", err)
				}
				if got := f.stages(t)[id]; slices.Contains(got, "AWSPENDING") {
					t.Fatalf("stages after another PutPending = %v; want AWSPENDING moved away", got)
				}
			},
			wantStages: []string{"AWSPENDING"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			id := secretstest.GrantID(t)
			first := secretstest.GrantValue(t, id)
			firstRef, _, err := f.store.PutPending(t.Context(), secretsTestRole, id, first)
			if err != nil {
				t.Fatalf("PutPending() error = %v", err)
			}
			tt.setup(t, f, id)
			versions, puts, creates := f.versionCount(t), f.spy.Count("PutSecretValue"), f.spy.Count("CreateSecret")

			ref, got, err := f.store.PutPending(t.Context(), secretsTestRole, id, secretstest.GrantValue(t, id))
			if err != nil {
				t.Fatalf("retried PutPending() error = %v", err)
			}
			if got.Password.Reveal() != first.Password.Reveal() {
				t.Errorf("retried PutPending() returned the new password; want the first one stored")
			}
			if ref != firstRef {
				t.Errorf("retried PutPending() ref = %+v; want %+v", ref, firstRef)
			}
			if n := f.spy.Count("PutSecretValue") - puts + f.spy.Count("CreateSecret") - creates; n != 0 {
				t.Errorf("retried PutPending() made %d write calls; want 0", n)
			}
			if got, want := f.versionCount(t), versions; got != want {
				t.Errorf("versions after the retry = %d; want %d", got, want)
			}
			if stored, _ := broker.ParseSecretValue(f.raw(t, id)); stored.Password.Reveal() != first.Password.Reveal() {
				t.Errorf("stored version after the retry holds another password than the first")
			}
			if got := f.stages(t)[id]; !slices.Equal(got, tt.wantStages) {
				t.Errorf("stages after the retry = %v; want %v", got, tt.wantStages)
			}
		})
	}
}

// DiscardPending removes AWSPENDING and leaves AWSCURRENT alone.
func TestDiscardPendingKeepsCurrent(t *testing.T) {
	f := newFixture(t)
	current, _ := f.issue(t)
	pending := secretstest.GrantID(t)
	if _, _, err := f.store.PutPending(t.Context(), secretsTestRole, pending, secretstest.GrantValue(t, pending)); err != nil {
		t.Fatalf("PutPending() error = %v", err)
	}
	for i := range 2 {
		if err := f.store.DiscardPending(t.Context(), secretsTestRole, pending); err != nil {
			t.Fatalf("DiscardPending() call %d error = %v", i+1, err)
		}
	}
	if got := f.stages(t)[pending]; slices.Contains(got, "AWSPENDING") {
		t.Errorf("stages after DiscardPending = %v; want no AWSPENDING", got)
	}
	if got, want := f.holders(t, "AWSCURRENT"), []string{current}; !slices.Equal(got, want) {
		t.Errorf("AWSCURRENT after DiscardPending on %v; want %v", got, want)
	}
	if err := f.store.DiscardPending(t.Context(), secretsTestRole, secretstest.GrantID(t)); err != nil {
		t.Errorf("DiscardPending(unknown version) error = %v; want nil", err)
	}
	if err := f.store.DiscardPending(t.Context(), "my_pg_firefighter_rw", secretstest.GrantID(t)); err != nil {
		t.Errorf("DiscardPending(role without a secret) error = %v; want nil", err)
	}
}

// PendingVersions lists the version carrying AWSPENDING.
func TestPendingVersions(t *testing.T) {
	f := newFixture(t)
	pending := func(t *testing.T) []string {
		t.Helper()
		ids, err := f.store.PendingVersions(t.Context(), secretsTestRole)
		if err != nil {
			t.Fatalf("PendingVersions() error = %v", err)
		}
		return ids
	}
	if got := pending(t); len(got) != 0 {
		t.Errorf("PendingVersions() without a secret = %v; want none", got)
	}
	a, b := secretstest.GrantID(t), secretstest.GrantID(t)
	if _, _, err := f.store.PutPending(t.Context(), secretsTestRole, a, secretstest.GrantValue(t, a)); err != nil {
		t.Fatalf("PutPending(a) error = %v", err)
	}
	if got, want := pending(t), []string{a}; !slices.Equal(got, want) {
		t.Errorf("PendingVersions() after PutPending(a) = %v; want %v", got, want)
	}
	if _, _, err := f.store.PutPending(t.Context(), secretsTestRole, b, secretstest.GrantValue(t, b)); err != nil {
		t.Fatalf("PutPending(b) error = %v", err)
	}
	if got, want := pending(t), []string{b}; !slices.Equal(got, want) {
		t.Errorf("PendingVersions() after PutPending(b) = %v; want %v (the label is on one version at a time)", got, want)
	}
	if _, err := f.store.Promote(t.Context(), secretsTestRole, b); err != nil {
		t.Fatalf("Promote(b) error = %v", err)
	}
	if got := pending(t); len(got) != 0 {
		t.Errorf("PendingVersions() after Promote(b) = %v; want none", got)
	}
}

// PutTombstone makes a current tombstone without a password.
func TestPutTombstone(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, f *secretsFixture) (previous string)
		versions int // after the tombstone
	}{
		{name: "after a grant", setup: func(t *testing.T, f *secretsFixture) string { id, _ := f.issue(t); return id }, versions: 3},
		{name: "without a secret", setup: func(t *testing.T, f *secretsFixture) string { return "" }, versions: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			previous := tt.setup(t, f)
			ref, err := f.store.PutTombstone(t.Context(), secretsTestRole, secretstest.Tombstone())
			if err != nil {
				t.Fatalf("PutTombstone() error = %v", err)
			}
			if got, want := f.holders(t, "AWSCURRENT"), []string{ref.VersionID}; !slices.Equal(got, want) {
				t.Errorf("AWSCURRENT after PutTombstone on %v; want the tombstone %v", got, want)
			}
			if got, want := f.stages(t)[ref.VersionID], []string{"AWSCURRENT"}; !slices.Equal(got, want) {
				t.Errorf("stages of the tombstone = %v; want %v", got, want)
			}
			if previous != "" {
				if got, want := f.stages(t)[previous], []string{"AWSPREVIOUS"}; !slices.Equal(got, want) {
					t.Errorf("stages of the expired grant's version = %v; want %v", got, want)
				}
			}
			raw := f.raw(t, ref.VersionID)
			var fields map[string]any
			if err := json.Unmarshal([]byte(raw), &fields); err != nil {
				t.Fatalf("tombstone is not JSON: %v", err)
			}
			if _, ok := fields["password"]; ok {
				t.Errorf("tombstone JSON %s has a password field; want none", raw)
			}
			if got, want := fields["status"], "expired"; got != want {
				t.Errorf("tombstone status = %v; want %q", got, want)
			}
			cur, curRef, err := f.store.Current(t.Context(), secretsTestRole)
			if err != nil || curRef != ref || cur.Status != broker.SecretExpired || cur.Password.Len() != 0 {
				t.Errorf("Current() = %v, %+v, %v; want the tombstone at %+v", cur, curRef, err, ref)
			}

			again, err := f.store.PutTombstone(t.Context(), secretsTestRole, secretstest.Tombstone())
			if err != nil {
				t.Fatalf("second PutTombstone() error = %v", err)
			}
			if again != ref {
				t.Errorf("second PutTombstone() = %+v; want the same version %+v", again, ref)
			}
			if got, want := f.versionCount(t), tt.versions; got != want {
				t.Errorf("versions after two PutTombstone = %d; want %d", got, want)
			}
		})
	}
}

// PutTombstone refuses a value with a password.
func TestPutTombstoneRefusesPassword(t *testing.T) {
	f := newFixture(t)
	v := secretstest.Tombstone()
	v.Password = broker.NewPassword("correct-horse-battery-staple-0123456789")
	_, err := f.store.PutTombstone(t.Context(), secretsTestRole, v)
	if err == nil {
		t.Fatalf("PutTombstone(with password) error = nil; want an error")
	}
	if strings.Contains(fmt.Sprintf("%+v", err), v.Password.Reveal()) {
		t.Errorf("PutTombstone(with password) error shows the password")
	}
	if got := f.spy.Count("PutSecretValue") + f.spy.Count("CreateSecret"); got != 0 {
		t.Errorf("PutTombstone(with password) made %d write calls; want 0", got)
	}
}

// Current without a current version is not_found.
func TestCurrentWithoutVersionIsNotFound(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *secretsFixture)
	}{
		{name: "no secret", setup: func(t *testing.T, f *secretsFixture) {}},
		{name: "secret without a value", setup: func(t *testing.T, f *secretsFixture) {
			if _, err := f.client.CreateSecret(t.Context(), &sm.CreateSecretInput{Name: aws.String(f.name)}); err != nil {
				t.Fatalf("CreateSecret() error = %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.setup(t, f)
			_, _, err := f.store.Current(t.Context(), secretsTestRole)
			if got, want := broker.ErrorCode(err), broker.CodeNotFound; got != want {
				t.Errorf("Current() error = %v; want code %s", err, want)
			}
		})
	}
}

// Bad version ids are refused before any call.
func TestBadVersionIDsRefusedBeforeAnyCall(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"", "short", strings.Repeat("x", 65)} {
		if _, _, err := f.store.PutPending(t.Context(), secretsTestRole, id, secretstest.GrantValue(t, id)); err == nil {
			t.Errorf("PutPending(version %q) error = nil; want an error", id)
		}
		if _, err := f.store.Promote(t.Context(), secretsTestRole, id); err == nil {
			t.Errorf("Promote(version %q) error = nil; want an error", id)
		}
	}
	if got := f.spy.Total(); got != 0 {
		t.Errorf("calls to Secrets Manager = %d; want 0", got)
	}
}

func TestStoreFaults(t *testing.T) {
	throttled := func(call, secret string) error {
		return &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: call,
			Err: &smithy.GenericAPIError{Code: "ThrottlingException", Message: "rate exceeded for " + secret}}
	}
	serverFault := func(call, secret string) error {
		return &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: call,
			Err: &types.InternalServiceError{Message: aws.String("internal failure on " + secret)}}
	}
	http503 := func(call, secret string) error {
		resp := &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusServiceUnavailable}}
		return &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: call,
			Err: &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: resp, Err: errors.New("service unavailable: " + secret)}}}
	}
	network := func(call, secret string) error {
		return &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: call,
			Err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused, body " + secret)}}}
	}
	deadline := func(call, secret string) error {
		return fmt.Errorf("operation error Secrets Manager: %s: sending %s: %w", call, secret, context.DeadlineExceeded)
	}
	serverCode := func(call, secret string) error {
		return &smithy.GenericAPIError{Code: "InternalServiceError", Message: "injected fault in " + call + " " + secret}
	}
	denied := func(call, secret string) error {
		return &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: call,
			Err: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not allowed to write " + secret, Fault: smithy.FaultClient}}
	}

	putPending := func(ctx context.Context, f *secretsFixture, id string, v broker.SecretValue) error {
		_, _, err := f.store.PutPending(ctx, secretsTestRole, id, v)
		return err
	}
	promote := func(ctx context.Context, f *secretsFixture, id string, v broker.SecretValue) error {
		if err := putPending(ctx, f, id, v); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		_, err := f.store.Promote(ctx, secretsTestRole, id)
		return err
	}
	current := func(ctx context.Context, f *secretsFixture, id string, v broker.SecretValue) error {
		_, _, err := f.store.Current(ctx, secretsTestRole)
		return err
	}
	tombstoneCall := func(ctx context.Context, f *secretsFixture, id string, v broker.SecretValue) error {
		_, err := f.store.PutTombstone(ctx, secretsTestRole, secretstest.Tombstone())
		return err
	}

	tests := []struct {
		name     string
		failing  string // the API call that fails
		fault    func(call, secret string) error
		call     func(ctx context.Context, f *secretsFixture, id string, v broker.SecretValue) error
		wantCode broker.Code
	}{
		{"PutPending throttled", "PutSecretValue", throttled, putPending, broker.CodeUnavailable},
		{"PutPending server fault", "PutSecretValue", serverFault, putPending, broker.CodeUnavailable},
		{"PutPending server error code", "PutSecretValue", serverCode, putPending, broker.CodeUnavailable},
		{"PutPending http 503", "PutSecretValue", http503, putPending, broker.CodeUnavailable},
		{"PutPending network", "PutSecretValue", network, putPending, broker.CodeUnavailable},
		{"PutPending deadline", "PutSecretValue", deadline, putPending, broker.CodeUnavailable},
		{"PutPending access denied", "PutSecretValue", denied, putPending, broker.CodeAWSAccessDenied},
		{"PutPending create throttled", "CreateSecret", throttled, putPending, broker.CodeUnavailable},
		{"Promote throttled", "UpdateSecretVersionStage", throttled, promote, broker.CodeUnavailable},
		{"Promote describe server fault", "DescribeSecret", serverFault, promote, broker.CodeUnavailable},
		{"Promote access denied", "UpdateSecretVersionStage", denied, promote, broker.CodeAWSAccessDenied},
		{"Current network", "GetSecretValue", network, current, broker.CodeUnavailable},
		{"Current access denied", "GetSecretValue", denied, current, broker.CodeAWSAccessDenied},
		{"PutTombstone throttled", "CreateSecret", throttled, tombstoneCall, broker.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.spy.SetFault(tt.failing, tt.fault)
			id := secretstest.GrantID(t)
			v := secretstest.GrantValue(t, id)
			err := tt.call(t.Context(), f, id, v)
			if got := broker.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("%s with %s failing: error = %v; want code %s", tt.name, tt.failing, err, tt.wantCode)
			}
			// Retrying is the SDK client's job (broker/awsretry): the store makes the
			// failing call once.
			if got := f.spy.Count(tt.failing); got != 1 {
				t.Errorf("%s: %s was called %d times; want 1", tt.name, tt.failing, got)
			}
			var be *broker.Error
			if !errors.As(err, &be) {
				t.Errorf("error %T is not a *broker.Error", err)
			}
			if got, want := broker.Retryable(err), tt.wantCode == broker.CodeUnavailable; got != want {
				t.Errorf("Retryable(%v) = %v; want %v", err, got, want)
			}
			if tt.wantCode == broker.CodeAWSAccessDenied && (broker.ErrorCategory(err) != broker.CategoryIAMPolicy ||
				!strings.HasSuffix(broker.ErrorMessage(err), "(category iam_policy)")) {
				t.Errorf("%s: ErrorMessage = %q, category %q; want category iam_policy", tt.name, broker.ErrorMessage(err), broker.ErrorCategory(err))
			}
			password := v.Password.Reveal()
			for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
				if text := fmt.Sprintf(format, err); strings.Contains(text, password) {
					t.Errorf("fmt %s of the error shows the password: %s", format, text)
				}
			}
			if strings.Contains(err.Error(), password) || strings.Contains(broker.ErrorMessage(err), password) {
				t.Errorf("error text shows the password")
			}
			if tt.failing == "PutSecretValue" && !strings.Contains(err.Error(), broker.Redacted) {
				t.Errorf("error = %q; want the echoed password replaced by %s", err, broker.Redacted)
			}
		})
	}
}

func TestStoreConcurrentIssues(t *testing.T) {
	f := newFixture(t)
	const n = 10
	ids := make([]string, n)
	values := make(map[string]broker.SecretValue, n)
	for i := range ids {
		ids[i] = secretstest.GrantID(t)
		values[ids[i]] = secretstest.GrantValue(t, ids[i])
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			if _, _, err := f.store.PutPending(t.Context(), secretsTestRole, id, values[id]); err != nil {
				errs[i] = fmt.Errorf("PutPending(%s): %w", id, err)
				return
			}
			if _, err := f.store.Promote(t.Context(), secretsTestRole, id); err != nil {
				errs[i] = fmt.Errorf("Promote(%s): %w", id, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("concurrent issue: %v", err)
		}
	}

	current := f.holders(t, "AWSCURRENT")
	if len(current) != 1 || !slices.Contains(ids, current[0]) {
		t.Fatalf("AWSCURRENT after %d concurrent issues is on %v; want exactly one of %v", n, current, ids)
	}
	cur, ref, err := f.store.Current(t.Context(), secretsTestRole)
	if err != nil {
		t.Fatalf("Current() error = %v", err)
	}
	if got, want := ref.VersionID, current[0]; got != want {
		t.Errorf("Current() version = %s; want %s", got, want)
	}
	if cur.Password.Reveal() != values[current[0]].Password.Reveal() {
		t.Errorf("Current() password is not the one its grant stored")
	}
	if got := f.holders(t, "AWSPREVIOUS"); len(got) != 1 {
		t.Errorf("versions carrying AWSPREVIOUS = %v; want exactly one", got)
	}
}

// TestStoreCustomerKMSKey: with a customer KMS key the store creates the
// secret with it; without one, with the account's default key.
func TestStoreCustomerKMSKey(t *testing.T) {
	for _, key := range []string{"", "arn:aws:kms:us-east-1:123456789012:key/0b7ad2b4-5f35-4a4e-9d7c-3f1d6e1f0c11"} {
		t.Run("key "+key, func(t *testing.T) {
			f := newFixture(t)
			f.store.WithKMSKey(key)
			f.issue(t)
			out, err := f.client.DescribeSecret(t.Context(), &sm.DescribeSecretInput{SecretId: aws.String(f.name)})
			if err != nil {
				t.Fatalf("DescribeSecret(%s) error = %v", f.name, err)
			}
			if got := aws.ToString(out.KmsKeyId); got != key {
				t.Errorf("secret %s created with KmsKeyId %q; want %q", f.name, got, key)
			}
		})
	}
}
