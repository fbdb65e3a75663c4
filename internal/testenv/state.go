package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/ffbroker/ffbroker/broker"

	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// DBState is what a refused request must leave unchanged in m's database: the
// number of grants, and each firefighter role's expiry and password hash (hashed
// again, so a failing test prints no verifier).
func (e *Env) DBState(t testing.TB, m pgtest.RoleModel) string {
	t.Helper()
	ctx := context.Background()
	c, err := e.Cluster.ConnectSuper(ctx, m.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var s string
	err = c.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM db_admin.firefighter_grant)::text || '|' ||
		(SELECT string_agg(rolname || '=' || coalesce(rolvaliduntil::text, 'null') || '/' || coalesce(md5(rolpassword), 'null'), ',' ORDER BY rolname)
		 FROM pg_authid WHERE rolname IN ($1, $2))`, m.FirefighterRO, m.FirefighterRW).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// SecretDescriber is the Secrets Manager call SecretsState makes.
type SecretDescriber interface {
	DescribeSecret(ctx context.Context, in *sm.DescribeSecretInput, optFns ...func(*sm.Options)) (*sm.DescribeSecretOutput, error)
}

// SecretsState is what a refused request must leave unchanged in Secrets Manager:
// each firefighter role's secret (named under prefix) with its versions and their
// stages, or "none".
func SecretsState(t testing.TB, c SecretDescriber, prefix string, m pgtest.RoleModel) string {
	t.Helper()
	var parts []string
	for _, role := range []string{m.FirefighterRO, m.FirefighterRW} {
		d, err := c.DescribeSecret(context.Background(), &sm.DescribeSecretInput{SecretId: aws.String(broker.SecretName(prefix, role))})
		var missing *smtypes.ResourceNotFoundException
		switch {
		case errors.As(err, &missing):
			parts = append(parts, role+":none")
			continue
		case err != nil:
			t.Fatal(err)
		}
		b, _ := json.Marshal(d.VersionIdsToStages)
		parts = append(parts, role+":"+string(b))
	}
	return strings.Join(parts, ";")
}
