package secretsmanager

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/awsretry"
)

// Staging labels.
const (
	stageCurrent = "AWSCURRENT"
	stagePending = "AWSPENDING"
	// stageTombstone marks a tombstone between its write and its promotion.
	// Tombstones are written under their own label and then promoted like a
	// grant's version, because PutSecretValue straight to AWSCURRENT does not
	// check which version it replaces (and moto then leaves two AWSCURRENT).
	stageTombstone = "FFBROKER_TOMBSTONE"
)

// maxStageMoves bounds the tries of one staging label move (see moveStage). The
// move is a compare-and-swap on the label's holder, so a failed try means that
// another writer moved the label first: reading the labels again, at once, is
// what repairs it; waiting would not. The writers of AWSCURRENT and of the
// tombstone label all hold the role's advisory lock (issue, sweep, revoke,
// repair), so among them a conflict needs a writer outside ffbroker; AWSPENDING
// moves without the lock, and each conflict is another writer's finished move,
// so n concurrent writers need at most n tries. Throttling and server failures
// are not conflicts: the SDK client's retryer (broker/awsretry) retries those.
const maxStageMoves = 16

// API is the part of the Secrets Manager client that Store calls;
// *secretsmanager.Client of the SDK satisfies it.
type API interface {
	CreateSecret(ctx context.Context, in *sm.CreateSecretInput, optFns ...func(*sm.Options)) (*sm.CreateSecretOutput, error)
	DescribeSecret(ctx context.Context, in *sm.DescribeSecretInput, optFns ...func(*sm.Options)) (*sm.DescribeSecretOutput, error)
	GetSecretValue(ctx context.Context, in *sm.GetSecretValueInput, optFns ...func(*sm.Options)) (*sm.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *sm.PutSecretValueInput, optFns ...func(*sm.Options)) (*sm.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *sm.UpdateSecretVersionStageInput, optFns ...func(*sm.Options)) (*sm.UpdateSecretVersionStageOutput, error)
	TagResource(ctx context.Context, in *sm.TagResourceInput, optFns ...func(*sm.Options)) (*sm.TagResourceOutput, error)
	UntagResource(ctx context.Context, in *sm.UntagResourceInput, optFns ...func(*sm.Options)) (*sm.UntagResourceOutput, error)
	GetResourcePolicy(ctx context.Context, in *sm.GetResourcePolicyInput, optFns ...func(*sm.Options)) (*sm.GetResourcePolicyOutput, error)
	PutResourcePolicy(ctx context.Context, in *sm.PutResourcePolicyInput, optFns ...func(*sm.Options)) (*sm.PutResourcePolicyOutput, error)
}

// Store keeps each firefighter role's password in its own Secrets Manager
// secret, named <prefix>/<role>, and moves its staging labels so that AWSCURRENT
// only ever holds a password the database accepts (DESIGN.md, Current secret works).
//
// A grant's password is written as the version whose id is the grant id, first
// labelled AWSPENDING (PutPending); once the database has committed the grant,
// Promote moves AWSCURRENT to it. A new secret starts with a tombstone as its
// AWSCURRENT version, so that a pending password is never current by accident.
// Every error is a *broker.Error whose text never holds a password.
type Store struct {
	client   API
	prefix   string
	tags     []types.Tag
	kmsKeyID string
	// functions are the IAM role ARNs of the functions that manage the secrets; none
	// means the store writes no resource policy (see WithFunctionRoles).
	functions []string
}

// WithFunctionRoles makes the store keep each secret's resource policy (SetReaders):
// only the requesters of live grants and the roles arns (the functions that manage
// the secrets) may read it, and only arns may change it. Without them the store writes
// no resource policy, which is for local use only: a policy that named no function
// would lock the functions out. It returns s.
func (s *Store) WithFunctionRoles(arns ...string) *Store {
	s.functions = append([]string(nil), arns...)
	return s
}

// WithKMSKey makes the store create the secrets it creates with the customer
// managed KMS key id (a key id, ARN or alias; "" means the account's
// aws/secretsmanager key), and returns it. Secrets that exist keep their key.
func (s *Store) WithKMSKey(id string) *Store {
	s.kmsKeyID = id
	return s
}

// New returns a store that names secrets broker.SecretName(prefix, role) and tags
// the secrets it creates with broker.SecretRoleTag and tags (for example
// "ffbroker:cluster").
func New(client API, prefix string, tags map[string]string) *Store {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		if k != broker.SecretRoleTag {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	s := &Store{client: client, prefix: prefix}
	for _, k := range keys {
		s.tags = append(s.tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return s
}

// SecretName returns the name of role's secret.
func (s *Store) SecretName(role string) string {
	return broker.SecretName(s.prefix, role)
}

// PutPending writes v as the version versionID (a grant id) of role's secret,
// labelled AWSPENDING, creating the secret if it does not exist.
//
// When that version already exists, as on a retry of the same grant, nothing is
// written: the value stored first is returned, so that the caller reuses its
// password, and the version is labelled AWSPENDING again unless it is
// AWSCURRENT. It returns the version's ref and the value it holds.
func (s *Store) PutPending(ctx context.Context, role, versionID string, v broker.SecretValue) (broker.SecretRef, broker.SecretValue, error) {
	const op = "secrets.PutPending"
	name := s.SecretName(role)
	if err := checkVersionID(op, versionID); err != nil {
		return broker.SecretRef{}, broker.SecretValue{}, err
	}
	text, err := v.SecretString()
	if err != nil {
		return broker.SecretRef{}, broker.SecretValue{}, &broker.Error{Code: broker.CodeInternal, Op: op, Message: "cannot encode the secret value", Err: err}
	}

	ref, stored, found, err := s.resume(ctx, role, versionID)
	if err != nil || found {
		return ref, stored, err
	}
	if err := s.guard(ctx, op, name); err != nil {
		return broker.SecretRef{}, broker.SecretValue{}, err
	}

	in := &sm.PutSecretValueInput{
		SecretId:           aws.String(name),
		ClientRequestToken: aws.String(versionID),
		SecretString:       aws.String(text),
		VersionStages:      []string{stagePending},
	}
	out, err := s.client.PutSecretValue(ctx, in)
	if isNotFound(err) {
		if err := s.create(ctx, role, v.Tombstone()); err != nil {
			return broker.SecretRef{}, broker.SecretValue{}, secretsError(op, name, "CreateSecret", err)
		}
		out, err = s.client.PutSecretValue(ctx, in)
	}
	var exists *types.ResourceExistsException
	if errors.As(err, &exists) {
		// A concurrent call with the same grant id wrote a different value first.
		ref, stored, found, err := s.resume(ctx, role, versionID)
		if err == nil && !found {
			err = &broker.Error{Code: broker.CodeUnavailable, Op: op, Message: "secret version changed concurrently, retry later"}
		}
		return ref, stored, err
	}
	if err != nil {
		return broker.SecretRef{}, broker.SecretValue{}, secretsError(op, name, "PutSecretValue", err, v.Password)
	}
	return broker.SecretRef{ARN: aws.ToString(out.ARN), VersionID: aws.ToString(out.VersionId)}, v, nil
}

// resume reads an existing version versionID of role's secret and labels it
// AWSPENDING unless it is AWSCURRENT. found is false when there is no such
// version (or no secret).
func (s *Store) resume(ctx context.Context, role, versionID string) (ref broker.SecretRef, v broker.SecretValue, found bool, err error) {
	const op = "secrets.PutPending"
	name := s.SecretName(role)
	out, err := s.client.GetSecretValue(ctx, &sm.GetSecretValueInput{
		SecretId:  aws.String(name),
		VersionId: aws.String(versionID),
	})
	if isNotFound(err) {
		return broker.SecretRef{}, broker.SecretValue{}, false, nil
	}
	if err != nil {
		return broker.SecretRef{}, broker.SecretValue{}, false, secretsError(op, name, "GetSecretValue", err)
	}
	v, err = broker.ParseSecretValue(aws.ToString(out.SecretString))
	if err != nil {
		return broker.SecretRef{}, broker.SecretValue{}, false, &broker.Error{Code: broker.CodeInternal, Op: op, Message: "stored secret value is malformed", Err: err}
	}
	if !slices.Contains(out.VersionStages, stageCurrent) && !slices.Contains(out.VersionStages, stagePending) {
		if _, err := s.moveStage(ctx, op, name, stagePending, versionID); err != nil {
			return broker.SecretRef{}, broker.SecretValue{}, false, err
		}
	}
	return broker.SecretRef{ARN: aws.ToString(out.ARN), VersionID: aws.ToString(out.VersionId)}, v, true, nil
}

// Promote makes version versionID of role's secret AWSCURRENT and removes its
// AWSPENDING label; Secrets Manager moves AWSPREVIOUS to the version that was
// current. Promoting the current version again only removes AWSPENDING. The
// code is broker.CodeNotFound when the secret or the version does not exist.
func (s *Store) Promote(ctx context.Context, role, versionID string) (broker.SecretRef, error) {
	const op = "secrets.Promote"
	if err := checkVersionID(op, versionID); err != nil {
		return broker.SecretRef{}, err
	}
	return s.promote(ctx, op, s.SecretName(role), versionID, stagePending)
}

// promote moves AWSCURRENT to versionID and then removes the label drop from it.
func (s *Store) promote(ctx context.Context, op, name, versionID, drop string) (broker.SecretRef, error) {
	d, err := s.moveStage(ctx, op, name, stageCurrent, versionID)
	if err != nil {
		return broker.SecretRef{}, err
	}
	if slices.Contains(d.VersionIdsToStages[versionID], drop) {
		// AWSCURRENT has moved: the promotion took effect. A failure to drop the
		// other label now must not fail it, or the caller would roll back a password
		// that AWSCURRENT already names. A stale AWSPENDING on the current version is
		// harmless: the next PutPending moves it, and it never makes a version current.
		_ = s.removeStage(ctx, op, name, drop, versionID)
	}
	return broker.SecretRef{ARN: aws.ToString(d.ARN), VersionID: versionID}, nil
}

// DiscardPending removes the AWSPENDING label from version versionID of role's
// secret. It does nothing when the version does not carry the label or when the
// version or the secret does not exist.
func (s *Store) DiscardPending(ctx context.Context, role, versionID string) error {
	const op = "secrets.DiscardPending"
	name := s.SecretName(role)
	if err := checkVersionID(op, versionID); err != nil {
		return err
	}
	d, err := s.describe(ctx, name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return secretsError(op, name, "DescribeSecret", err)
	}
	if !slices.Contains(d.VersionIdsToStages[versionID], stagePending) {
		return nil
	}
	return s.removeStage(ctx, op, name, stagePending, versionID)
}

// PendingVersions returns the ids of the versions of role's secret that carry
// AWSPENDING, sorted; none when the secret does not exist. Secrets Manager keeps
// a label on one version at a time, so there is at most one: a pending version
// loses the label to the next PutPending for the role, and the grant ledger, not
// this list, is the complete record of unfinished grants.
func (s *Store) PendingVersions(ctx context.Context, role string) ([]string, error) {
	const op = "secrets.PendingVersions"
	name := s.SecretName(role)
	d, err := s.describe(ctx, name)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, secretsError(op, name, "DescribeSecret", err)
	}
	var ids []string
	for id, stages := range d.VersionIdsToStages {
		if slices.Contains(stages, stagePending) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Current returns the AWSCURRENT value of role's secret and its ref. The code is
// broker.CodeNotFound when the secret or its current version does not exist.
func (s *Store) Current(ctx context.Context, role string) (broker.SecretValue, broker.SecretRef, error) {
	const op = "secrets.Current"
	text, ref, err := s.current(ctx, op, role)
	if err != nil {
		return broker.SecretValue{}, broker.SecretRef{}, err
	}
	v, err := broker.ParseSecretValue(text)
	if err != nil {
		return broker.SecretValue{}, broker.SecretRef{}, &broker.Error{Code: broker.CodeInternal, Op: op, Message: "stored secret value is malformed", Err: err}
	}
	return v, ref, nil
}

// current reads the AWSCURRENT version's text. The stage is named explicitly:
// moto answers a GetSecretValue without one from a version it tracks apart from
// the labels, which UpdateSecretVersionStage does not update.
func (s *Store) current(ctx context.Context, op, role string) (string, broker.SecretRef, error) {
	name := s.SecretName(role)
	out, err := s.client.GetSecretValue(ctx, &sm.GetSecretValueInput{
		SecretId:     aws.String(name),
		VersionStage: aws.String(stageCurrent),
	})
	if isNotFound(err) {
		return "", broker.SecretRef{}, &broker.Error{Code: broker.CodeNotFound, Op: op, Message: fmt.Sprintf("no current secret for role %s", role), Err: scrub(err)}
	}
	if err != nil {
		return "", broker.SecretRef{}, secretsError(op, name, "GetSecretValue", err)
	}
	return aws.ToString(out.SecretString), broker.SecretRef{ARN: aws.ToString(out.ARN), VersionID: aws.ToString(out.VersionId)}, nil
}

// SetExpiry records that grant grantID of role now ends at expiresAt, on the secret's
// tags (broker.SecretGrantTag, broker.SecretExpiresAtTag): the versions, and so the password, stay as
// they are. The code is broker.CodeNotFound when the secret does not exist.
func (s *Store) SetExpiry(ctx context.Context, role, grantID string, expiresAt time.Time) error {
	const op = "secrets.SetExpiry"
	name := s.SecretName(role)
	if err := checkVersionID(op, grantID); err != nil {
		return err
	}
	_, err := s.client.TagResource(ctx, &sm.TagResourceInput{
		SecretId: aws.String(name),
		Tags: []types.Tag{
			{Key: aws.String(broker.SecretGrantTag), Value: aws.String(grantID)},
			{Key: aws.String(broker.SecretExpiresAtTag), Value: aws.String(expiresAt.UTC().Format(time.RFC3339Nano))},
		},
	})
	if err != nil {
		return secretsError(op, name, "TagResource", err)
	}
	return nil
}

// Tags returns the tags of role's secret.
func (s *Store) Tags(ctx context.Context, role string) (map[string]string, error) {
	const op = "secrets.Tags"
	name := s.SecretName(role)
	d, err := s.describe(ctx, name)
	if err != nil {
		return nil, secretsError(op, name, "DescribeSecret", err)
	}
	tags := make(map[string]string, len(d.Tags))
	for _, t := range d.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}

// PutTombstone makes v, which must have no password and Status broker.SecretExpired,
// the AWSCURRENT value of role's secret, creating the secret if it does not
// exist. It writes nothing when the current value is already exactly v, so a
// repeated expiry or sweep does not pile up versions.
func (s *Store) PutTombstone(ctx context.Context, role string, v broker.SecretValue) (broker.SecretRef, error) {
	const op = "secrets.PutTombstone"
	name := s.SecretName(role)
	if !v.IsTombstone() {
		return broker.SecretRef{}, &broker.Error{Code: broker.CodeInternal, Op: op, Message: "a tombstone must have no password and status expired"}
	}
	text, err := v.SecretString()
	if err != nil {
		return broker.SecretRef{}, &broker.Error{Code: broker.CodeInternal, Op: op, Message: "cannot encode the secret value", Err: err}
	}
	old, ref, err := s.current(ctx, op, role)
	switch {
	case err == nil && old == text:
		return ref, nil
	case err != nil && broker.ErrorCode(err) != broker.CodeNotFound:
		return broker.SecretRef{}, err
	case err != nil:
		created, err := s.createWith(ctx, role, text)
		if err == nil {
			return created, nil
		}
		var exists *types.ResourceExistsException
		if !errors.As(err, &exists) {
			return broker.SecretRef{}, secretsError(op, name, "CreateSecret", err)
		}
	}

	out, err := s.client.PutSecretValue(ctx, &sm.PutSecretValueInput{
		SecretId:           aws.String(name),
		ClientRequestToken: aws.String(newVersionID()),
		SecretString:       aws.String(text),
		VersionStages:      []string{stageTombstone},
	})
	if err != nil {
		return broker.SecretRef{}, secretsError(op, name, "PutSecretValue", err)
	}
	return s.promote(ctx, op, name, aws.ToString(out.VersionId), stageTombstone)
}

// create creates role's secret with the tombstone v as its AWSCURRENT version and,
// with function roles, the resource policy that lets only the functions read it,
// before any password version exists; a secret that a concurrent caller created
// first is fine.
func (s *Store) create(ctx context.Context, role string, v broker.SecretValue) error {
	text, err := v.SecretString()
	if err != nil {
		return err
	}
	_, err = s.createWith(ctx, role, text)
	var exists *types.ResourceExistsException
	if err != nil && !errors.As(err, &exists) {
		return err
	}
	return s.guard(ctx, "secrets.create", s.SecretName(role))
}

// guard gives secret name, when it has no resource policy, the one that lets only the
// functions read it (ReadPolicy with no reader), so that no password version is ever
// written into a secret that any identity policy could read. Without function roles
// it does nothing; nor for a secret that does not exist.
func (s *Store) guard(ctx context.Context, op, name string) error {
	if len(s.functions) == 0 {
		return nil
	}
	cur, err := s.client.GetResourcePolicy(ctx, &sm.GetResourcePolicyInput{SecretId: aws.String(name)})
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return secretsError(op, name, "GetResourcePolicy", err)
	}
	if aws.ToString(cur.ResourcePolicy) != "" {
		return nil
	}
	_, err = s.client.PutResourcePolicy(ctx, &sm.PutResourcePolicyInput{SecretId: aws.String(name),
		ResourcePolicy: aws.String(ReadPolicy(s.functions, nil)), BlockPublicPolicy: aws.Bool(true)})
	if err != nil {
		return secretsError(op, name, "PutResourcePolicy", err)
	}
	return nil
}

// createWith creates role's secret, tagged, with text as its AWSCURRENT value.
func (s *Store) createWith(ctx context.Context, role, text string) (broker.SecretRef, error) {
	tags := append([]types.Tag{{Key: aws.String(broker.SecretRoleTag), Value: aws.String(role)}}, s.tags...)
	in := &sm.CreateSecretInput{
		Name:               aws.String(s.SecretName(role)),
		Description:        aws.String(fmt.Sprintf("ffbroker: short-lived password of the PostgreSQL firefighter role %s (a tombstone when no grant is live)", role)),
		ClientRequestToken: aws.String(newVersionID()),
		SecretString:       aws.String(text),
		Tags:               tags,
	}
	if s.kmsKeyID != "" {
		in.KmsKeyId = aws.String(s.kmsKeyID)
	}
	out, err := s.client.CreateSecret(ctx, in)
	if err != nil {
		return broker.SecretRef{}, err
	}
	return broker.SecretRef{ARN: aws.ToString(out.ARN), VersionID: aws.ToString(out.VersionId)}, nil
}

// moveStage attaches stage to versionID, taking it from the version that holds
// it. The move names that version, so it fails instead of overwriting when a
// concurrent caller moved the label first; it then reads the labels again and
// tries again, without waiting, at most maxStageMoves times. It returns the
// secret's description as seen before the last move.
func (s *Store) moveStage(ctx context.Context, op, name, stage, versionID string) (*sm.DescribeSecretOutput, error) {
	for attempt := range maxStageMoves {
		d, err := s.describe(ctx, name)
		if isNotFound(err) {
			return nil, &broker.Error{Code: broker.CodeNotFound, Op: op, Message: "no secret for the role", Err: scrub(err)}
		}
		if err != nil {
			return nil, secretsError(op, name, "DescribeSecret", err)
		}
		if _, listed := d.VersionIdsToStages[versionID]; !listed && attempt == 0 {
			// DescribeSecret lists only versions that carry a label.
			if err := s.checkVersion(ctx, op, name, versionID); err != nil {
				return nil, err
			}
		}
		holder := holderOf(d.VersionIdsToStages, stage)
		if holder == versionID {
			return d, nil
		}
		in := &sm.UpdateSecretVersionStageInput{
			SecretId:        aws.String(name),
			VersionStage:    aws.String(stage),
			MoveToVersionId: aws.String(versionID),
		}
		if holder != "" {
			in.RemoveFromVersionId = aws.String(holder)
		}
		_, err = s.client.UpdateSecretVersionStage(ctx, in)
		if err == nil {
			return d, nil
		}
		if !isStageConflict(err) {
			return nil, secretsError(op, name, "UpdateSecretVersionStage", err)
		}
	}
	return nil, &broker.Error{Code: broker.CodeUnavailable, Op: op, Message: "secret version labels changed concurrently, retry later"}
}

// removeStage detaches stage from versionID; a label that is already gone is fine.
func (s *Store) removeStage(ctx context.Context, op, name, stage, versionID string) error {
	_, err := s.client.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{
		SecretId:            aws.String(name),
		VersionStage:        aws.String(stage),
		RemoveFromVersionId: aws.String(versionID),
	})
	if err == nil {
		return nil
	}
	if isStageConflict(err) || isNotFound(err) {
		d, derr := s.describe(ctx, name)
		if isNotFound(derr) || (derr == nil && !slices.Contains(d.VersionIdsToStages[versionID], stage)) {
			return nil
		}
	}
	return secretsError(op, name, "UpdateSecretVersionStage", err)
}

// checkVersion returns a broker.CodeNotFound error when version versionID does not exist.
func (s *Store) checkVersion(ctx context.Context, op, name, versionID string) error {
	_, err := s.client.GetSecretValue(ctx, &sm.GetSecretValueInput{
		SecretId:  aws.String(name),
		VersionId: aws.String(versionID),
	})
	if isNotFound(err) {
		return &broker.Error{Code: broker.CodeNotFound, Op: op, Message: fmt.Sprintf("no secret version %s", versionID), Err: scrub(err)}
	}
	if err != nil {
		return secretsError(op, name, "GetSecretValue", err)
	}
	return nil
}

func (s *Store) describe(ctx context.Context, name string) (*sm.DescribeSecretOutput, error) {
	return s.client.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(name)})
}

// holderOf returns the id of the version that carries stage, or "".
func holderOf(versions map[string][]string, stage string) string {
	for id, stages := range versions {
		if slices.Contains(stages, stage) {
			return id
		}
	}
	return ""
}

// checkVersionID refuses a version id that Secrets Manager would refuse as a
// ClientRequestToken (32 to 64 characters).
func checkVersionID(op, versionID string) error {
	if n := len(versionID); n < 32 || n > 64 {
		return &broker.Error{Code: broker.CodeInternal, Op: op, Message: fmt.Sprintf("secret version id must have 32 to 64 characters, not %d", n)}
	}
	return nil
}

// newVersionID returns a random (version 4) UUID.
func newVersionID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

// isStageConflict reports whether a label move failed because the label was not
// where the call said it was, which a concurrent move causes.
func isStageConflict(err error) bool {
	var ip *types.InvalidParameterException
	var ir *types.InvalidRequestException
	return errors.As(err, &ip) || errors.As(err, &ir)
}

// secretsError wraps an error from a Secrets Manager call in an *broker.Error:
// broker.CodeUnavailable when a later retry may succeed (throttling, a server fault,
// the network, a deadline), broker.CodeInternal otherwise. Any of the passwords that
// the cause's text contains is replaced by broker.Redacted.
func secretsError(op, name, call string, err error, secrets ...broker.Password) *broker.Error {
	code, msg := broker.CodeInternal, "secrets manager request failed"
	var cat broker.Category
	switch {
	case awsretry.Transient(err):
		code, msg = broker.CodeUnavailable, "secrets manager is unavailable, retry later"
	case accessDenied(err):
		code, cat = broker.CodeAWSAccessDenied, broker.CategoryIAMPolicy
		msg = "secrets manager refused the function's IAM role: check its secretsmanager permissions on the firefighter secrets and, with a customer KMS key, kms:Decrypt and kms:GenerateDataKey"
	}
	return &broker.Error{Code: code, Category: cat, Op: op, Message: msg, Err: scrub(fmt.Errorf("%s %s: %w", call, name, err), secrets...)}
}

// accessDenied reports whether err is an AWS refusal of the caller's permissions:
// an IAM policy, a resource or KMS key policy (Secrets Manager answers
// AccessDeniedException for a key it may not use, too).
func accessDenied(err error) bool {
	// An HTTP 403 whatever its body (moto answers an IAM refusal in XML).
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() == 403 {
		return true
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "AccessDeniedException", "AccessDenied", "KMSAccessDeniedException", "NotAuthorized", "UnauthorizedOperation":
		return true
	}
	return false
}

// scrubbedError is a cause whose text has the given passwords replaced by
// broker.Redacted, in their plain and their JSON-escaped forms. Unwrap still gives the
// original error to errors.Is and errors.As.
type scrubbedError struct {
	err     error
	secrets []broker.Password
}

// scrub wraps err so that its text never shows one of secrets.
func scrub(err error, secrets ...broker.Password) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{err: err, secrets: secrets}
}

func (e *scrubbedError) Error() string {
	text := e.err.Error()
	for _, p := range e.secrets {
		plain := p.Reveal()
		if plain == "" {
			continue
		}
		text = strings.ReplaceAll(text, plain, broker.Redacted)
		if quoted, err := json.Marshal(plain); err == nil {
			text = strings.ReplaceAll(text, strings.Trim(string(quoted), `"`), broker.Redacted)
		}
	}
	return text
}

func (e *scrubbedError) Unwrap() error { return e.err }
