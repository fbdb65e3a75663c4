package secretsmanager

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/ffbroker/ffbroker/broker"
)

// readerTagPrefix starts the keys of the tags that keep reader records. Only the
// functions may tag the secret (its resource policy), so a record is as trustworthy
// as the policy it feeds.
const readerTagPrefix = "ffbroker:reader:"

// ManagedActions are the actions on a firefighter secret that its resource policy
// denies to everyone but the functions: whoever else could change the value, its
// labels, its tags (the reader records) or the policy itself could make themselves a
// reader. DeleteSecret stays open (to an identity policy that allows it): a secret
// whose functions are gone is deleted, and a new stack's functions create it again.
var ManagedActions = []string{
	"secretsmanager:PutSecretValue",
	"secretsmanager:UpdateSecret",
	"secretsmanager:UpdateSecretVersionStage",
	"secretsmanager:PutResourcePolicy",
	"secretsmanager:DeleteResourcePolicy",
	"secretsmanager:TagResource",
	"secretsmanager:UntagResource",
	"secretsmanager:RotateSecret",
	"secretsmanager:CancelRotateSecret",
	"secretsmanager:ReplicateSecretToRegions",
}

// Readers returns the reader records kept in the tags of role's secret; none when the
// secret does not exist. A tag that does not parse is no record.
func (s *Store) Readers(ctx context.Context, role string) ([]broker.ReaderRecord, error) {
	const op = "secrets.Readers"
	name := s.SecretName(role)
	d, err := s.describe(ctx, name)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, secretsError(op, name, "DescribeSecret", err)
	}
	var out []broker.ReaderRecord
	for _, t := range d.Tags {
		if r, ok := parseReaderTag(aws.ToString(t.Key), aws.ToString(t.Value)); ok {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b broker.ReaderRecord) int { return strings.Compare(readerTagKey(a), readerTagKey(b)) })
	return out, nil
}

// AddReader keeps r in a tag of role's secret, creating the secret with the tombstone
// when it does not exist. The same grant and principal again replace their record.
func (s *Store) AddReader(ctx context.Context, role string, r broker.ReaderRecord, tombstone broker.SecretValue) error {
	const op = "secrets.AddReader"
	name := s.SecretName(role)
	if err := checkVersionID(op, r.ID); err != nil {
		return err
	}
	value, err := readerTagValue(r)
	if err != nil {
		return &broker.Error{Code: broker.CodeInternal, Op: op, Message: "the reader cannot be recorded", Err: err}
	}
	in := &sm.TagResourceInput{SecretId: aws.String(name),
		Tags: []types.Tag{{Key: aws.String(readerTagKey(r)), Value: aws.String(value)}}}
	_, err = s.client.TagResource(ctx, in)
	if isNotFound(err) {
		if err := s.create(ctx, role, tombstone); err != nil {
			return secretsError(op, name, "CreateSecret", err)
		}
		_, err = s.client.TagResource(ctx, in)
	}
	if err != nil {
		return secretsError(op, name, "TagResource", err)
	}
	return nil
}

// SetReaders writes role's resource policy for readers (ReadPolicy) unless the secret
// already has exactly that policy, then removes the tags of drop. It does nothing to a
// secret that does not exist, and writes no policy when the store names no function
// role (WithFunctionRoles).
func (s *Store) SetReaders(ctx context.Context, role string, readers []broker.Reader, drop []broker.ReaderRecord) error {
	const op = "secrets.SetReaders"
	name := s.SecretName(role)
	if len(s.functions) > 0 {
		want := ReadPolicy(s.functions, readers)
		cur, err := s.client.GetResourcePolicy(ctx, &sm.GetResourcePolicyInput{SecretId: aws.String(name)})
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return secretsError(op, name, "GetResourcePolicy", err)
		}
		if !samePolicy(aws.ToString(cur.ResourcePolicy), want) {
			_, err = s.client.PutResourcePolicy(ctx, &sm.PutResourcePolicyInput{SecretId: aws.String(name),
				ResourcePolicy: aws.String(want), BlockPublicPolicy: aws.Bool(true)})
			if err != nil {
				return secretsError(op, name, "PutResourcePolicy", err)
			}
		}
	}
	if len(drop) == 0 {
		return nil
	}
	keys := make([]string, 0, len(drop))
	for _, r := range drop {
		keys = append(keys, readerTagKey(r))
	}
	_, err := s.client.UntagResource(ctx, &sm.UntagResourceInput{SecretId: aws.String(name), TagKeys: keys})
	if err != nil && !isNotFound(err) {
		return secretsError(op, name, "UntagResource", err)
	}
	return nil
}

type policyDoc struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

type policyStatement struct {
	Sid       string                    `json:"Sid"`
	Effect    string                    `json:"Effect"`
	Principal string                    `json:"Principal"`
	Action    any                       `json:"Action"`
	Resource  string                    `json:"Resource"`
	Condition map[string]map[string]any `json:"Condition"`
}

// ReadPolicy returns the resource policy of a firefighter secret that functions (the
// role ARNs of the functions that manage it) and readers may read, nobody else:
//
//   - OnlyLiveGrantsRead denies GetSecretValue to every principal that is neither
//     one of functions (aws:PrincipalArn) nor a reader (aws:userid: exactly a user's or
//     a trusted session's unique id, or "<role unique id>:*" for every session of a
//     role that is one person);
//   - ReaderEnds<n> denies it to reader n from the end of its latest live grant on, so
//     that an expiry holds even before the broker rewrites the policy;
//   - OnlyTheBrokerManages denies ManagedActions to everyone but functions.
//
// Deny only: nothing is granted that an identity policy does not grant already.
func ReadPolicy(functions []string, readers []broker.Reader) string {
	fns := slices.Clone(functions)
	slices.Sort(fns)
	rs := slices.Clone(readers)
	slices.SortFunc(rs, func(a, b broker.Reader) int { return strings.Compare(readerPattern(a), readerPattern(b)) })

	var exact, like []string
	for _, r := range rs {
		if r.AllSessions {
			like = append(like, readerPattern(r))
		} else {
			exact = append(exact, r.UserID)
		}
	}
	read := policyStatement{Sid: "OnlyLiveGrantsRead", Effect: "Deny", Principal: "*", Action: "secretsmanager:GetSecretValue", Resource: "*",
		Condition: map[string]map[string]any{"ArnNotEquals": {"aws:PrincipalArn": fns}}}
	if len(exact) > 0 {
		read.Condition["StringNotEquals"] = map[string]any{"aws:userid": exact}
	}
	if len(like) > 0 {
		read.Condition["StringNotLike"] = map[string]any{"aws:userid": like}
	}
	doc := policyDoc{Version: "2012-10-17", Statement: []policyStatement{read}}
	for i, r := range rs {
		op := "StringEquals"
		if r.AllSessions {
			op = "StringLike"
		}
		doc.Statement = append(doc.Statement, policyStatement{Sid: "ReaderEnds" + strconv.Itoa(i+1), Effect: "Deny", Principal: "*",
			Action: "secretsmanager:GetSecretValue", Resource: "*",
			Condition: map[string]map[string]any{
				op:                {"aws:userid": readerPattern(r)},
				"DateGreaterThan": {"aws:CurrentTime": r.Until.UTC().Truncate(time.Second).Format(time.RFC3339)},
			}})
	}
	doc.Statement = append(doc.Statement, policyStatement{Sid: "OnlyTheBrokerManages", Effect: "Deny", Principal: "*",
		Action: ManagedActions, Resource: "*",
		Condition: map[string]map[string]any{"ArnNotEquals": {"aws:PrincipalArn": fns}}})
	b, _ := json.Marshal(doc) // plain strings and lists: never fails
	return string(b)
}

// readerPattern is the aws:userid value that names r.
func readerPattern(r broker.Reader) string {
	if r.AllSessions {
		return r.UserID + ":*"
	}
	return r.UserID
}

// samePolicy reports whether the policy text have says what want says (Secrets
// Manager may give the text back reformatted).
func samePolicy(have, want string) bool {
	if have == "" {
		return false
	}
	var h, w any
	if json.Unmarshal([]byte(have), &h) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	return reflect.DeepEqual(h, w)
}

// readerTagKey is the tag key of r: one per grant and principal.
func readerTagKey(r broker.ReaderRecord) string {
	sum := sha256.Sum256([]byte(r.ID + " " + strconv.FormatBool(r.AllSessions) + " " + r.UserID))
	return readerTagPrefix + hex.EncodeToString(sum[:16])
}

// readerTagValue encodes r as "<id> <e|r> <unix seconds> <user id>". A tag value may
// not hold a comma, which a session name may: it is written as a slash, which no
// unique id or session name holds.
func readerTagValue(r broker.ReaderRecord) (string, error) {
	if r.UserID == "" || strings.ContainsAny(r.UserID, " /") {
		return "", fmt.Errorf("malformed unique id")
	}
	kind := "e"
	if r.AllSessions {
		kind = "r"
	}
	return fmt.Sprintf("%s %s %d %s", r.ID, kind, r.At.Unix(), strings.ReplaceAll(r.UserID, ",", "/")), nil
}

// parseReaderTag decodes a reader tag; ok is false for any other tag.
func parseReaderTag(key, value string) (broker.ReaderRecord, bool) {
	if !strings.HasPrefix(key, readerTagPrefix) {
		return broker.ReaderRecord{}, false
	}
	f := strings.Split(value, " ")
	if len(f) != 4 || (f[1] != "e" && f[1] != "r") || f[3] == "" {
		return broker.ReaderRecord{}, false
	}
	at, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return broker.ReaderRecord{}, false
	}
	r := broker.ReaderRecord{ID: f[0], AllSessions: f[1] == "r", UserID: strings.ReplaceAll(f[3], "/", ","), At: time.Unix(at, 0)}
	if readerTagKey(r) != key {
		return broker.ReaderRecord{}, false
	}
	return r, true
}
