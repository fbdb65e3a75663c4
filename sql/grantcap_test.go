package sqlscripts_test

import (
	"fmt"
	"testing"
)

// One person holds at most 3 grants of a role at once, for other incidents (each keeps
// a reader record in a tag of the role's secret): the fourth reservation is refused
// with FFB17, while the same incident again, another person and a DBA's manual issue
// (no requester key) still reserve.
func TestFourthGrantOfOnePersonIsRefused(t *testing.T) {
	e := newEnv(t, "grcap")
	b := e.Login(t, e.Broker)
	reserve := func(incident, key string) (string, error) {
		return exec(b, `SELECT * FROM db_admin.reserve_firefighter_grant(gen_random_uuid(), $1, 1, $2, 'arn:'||$3, $3)`,
			e.FirefighterRO, incident, key)
	}
	for i := range 3 {
		if state, err := reserve(fmt.Sprintf("INC-CAP%d", i), "key-alice"); err != nil {
			t.Fatalf("reservation %d for alice: %v (SQLSTATE %s)", i+1, err, state)
		}
	}
	if state, err := reserve("INC-CAP3", "KEY-ALICE"); state != "FFB17" {
		t.Errorf("a fourth reservation for alice (key in other case) = %v (SQLSTATE %q); want FFB17", err, state)
	}
	if state, err := reserve("INC-CAP0", "key-alice"); err != nil {
		t.Errorf("alice again for an incident she holds: %v (SQLSTATE %s); want a reservation", err, state)
	}
	if state, err := reserve("INC-CAP3", "key-bob"); err != nil {
		t.Errorf("bob's first reservation: %v (SQLSTATE %s); want a reservation", err, state)
	}
	e.Issue(t, e.FirefighterRO, randomPassword(t), 1) // the DBA's manual issue: no requester key
}
