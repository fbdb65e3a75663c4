package deploytest

import (
	"regexp"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
)

// The template's RolePrefix parameter accepts exactly the prefixes broker.Names
// accepts, so a stack the bootstrap would refuse does not deploy (it allowed 48
// characters and pg; every function then failed its cold start). (Red team 4.)
func TestTemplateRolePrefixMatchesNames(t *testing.T) {
	tpl := loadTemplate(t)
	re := regexp.MustCompile(str(t, obj(t, tpl, "Parameters", "RolePrefix"), "AllowedPattern"))
	var prefixes []string
	for n := 1; n <= 64; n++ {
		prefixes = append(prefixes, strings.Repeat("a", n))
	}
	prefixes = append(prefixes, "my_pg", "p", "pg", "pg_", "pg_x", "pgx", "pg1", "p_g", "px_", "a_", "a-b", "A", "pg"+strings.Repeat("a", 29), "p"+strings.Repeat("a", 30))
	for _, p := range prefixes {
		names := broker.Names{Prefix: p}.Validate() == nil
		if got := re.MatchString(p); got != names {
			t.Errorf("template RolePrefix pattern %s on %q (%d characters) = %v; broker.Names accepts it: %v", re, p, len(p), got, names)
		}
	}
}
