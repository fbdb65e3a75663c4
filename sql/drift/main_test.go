// Package drift_test proves the drift checker on a real PostgreSQL cluster that
// behaves like Aurora (see internal/pgtest): a clean bootstrap passes every check and
// each kind of drift fails the check it should. Run it against another major with
// FFB_PG_BIN=/path/to/bin, as make test-matrix does.
package drift_test

import (
	"testing"

	"github.com/ffbroker/ffbroker/internal/pgtest"
)

var cluster *pgtest.Cluster

// The cluster keeps CREATE on schema public for PUBLIC in postgres and template1, as
// one upgraded from PostgreSQL 14 or older does: the bootstrap must be safe there too.
func TestMain(m *testing.M) {
	pgtest.Main(m, pgtest.Options{PublicCreate: true}, func(c *pgtest.Cluster) { cluster = c })
}
