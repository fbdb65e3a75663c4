package broker_test

import (
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
)

func TestNamesDefaults(t *testing.T) {
	want := broker.Names{Prefix: "my_pg", DBName: "my-pg-db", AppSchema: "my-pg-db-schema"}
	if n := (broker.Names{}).WithDefaults(); n != want {
		t.Errorf("Names{}.WithDefaults() = %+v; want the default names %+v", n, want)
	}
	if n := broker.DefaultNames(); n != want {
		t.Errorf("DefaultNames() = %+v; want %+v", n, want)
	}
	if n := (broker.Names{Prefix: "acme", DBName: "d"}).WithDefaults(); n != (broker.Names{Prefix: "acme", DBName: "d", AppSchema: "my-pg-db-schema"}) {
		t.Errorf("Names{acme, d}.WithDefaults() = %+v; want only the schema defaulted", n)
	}
	all := []string{"my_pg_admin", "my_pg_owner", "my_pg_migrator", "my_pg_app",
		"my_pg_firefighter_ro", "my_pg_firefighter_rw", "my_pg_password_broker", "my_pg_password_approver"}
	if got := (broker.Names{}).Roles().All(); strings.Join(got, " ") != strings.Join(all, " ") {
		t.Errorf("Names{}.Roles().All() = %q; want %q", got, all)
	}
}

func TestNamesRoles(t *testing.T) {
	r := broker.Names{Prefix: "acme"}.Roles()
	tests := []struct{ name, got, want string }{
		{"Admin", r.Admin, "acme_admin"},
		{"Owner", r.Owner, "acme_owner"},
		{"Migrator", r.Migrator, "acme_migrator"},
		{"App", r.App, "acme_app"},
		{"FirefighterRO", r.FirefighterRO, "acme_firefighter_ro"},
		{"FirefighterRW", r.FirefighterRW, "acme_firefighter_rw"},
		{"Broker", r.Broker, "acme_password_broker"},
		{"Approver", r.Approver, "acme_password_approver"},
		{"Activity", r.Activity, "acme_activity_monitor"},
		{"Firefighter(ro)", r.Firefighter(broker.RoleRO), "acme_firefighter_ro"},
		{"Firefighter(rw)", r.Firefighter(broker.RoleRW), "acme_firefighter_rw"},
		{"Firefighter(admin)", r.Firefighter("admin"), ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("Names{acme}.Roles().%s = %q; want %q", tt.name, tt.got, tt.want)
		}
	}
}

// Validate refuses what 000_preflight.sql refuses (and the reserved pg_ names that
// CREATE ROLE refuses), and accepts the rest.
func TestNamesValidate(t *testing.T) {
	tests := []struct {
		name  string
		names broker.Names
		ok    bool
	}{
		{"defaults", broker.Names{}, true},
		{"other names", broker.Names{Prefix: "acme_prod2", DBName: "orders", AppSchema: "app"}, true},
		{"longest prefix", broker.Names{Prefix: "a" + strings.Repeat("b", 30)}, true},
		{"63-character database and schema", broker.Names{DBName: strings.Repeat("d", 63), AppSchema: strings.Repeat("s", 63)}, true},
		{"63 multibyte characters", broker.Names{DBName: strings.Repeat("é", 63)}, true},
		{"prefix longer than the bootstrap allows", broker.Names{Prefix: "a" + strings.Repeat("b", 31)}, false},
		{"upper-case prefix", broker.Names{Prefix: "My_pg"}, false},
		{"prefix with dash", broker.Names{Prefix: "my-pg"}, false},
		{"prefix with quote", broker.Names{Prefix: `my"pg`}, false},
		{"prefix starting with digit", broker.Names{Prefix: "1pg"}, false},
		{"prefix starting with underscore", broker.Names{Prefix: "_pg"}, false},
		{"reserved pg prefix", broker.Names{Prefix: "pg"}, false},
		{"reserved pg_ prefix", broker.Names{Prefix: "pg_my"}, false},
		{"database name too long", broker.Names{DBName: strings.Repeat("d", 64)}, false},
		{"schema name too long", broker.Names{AppSchema: strings.Repeat("s", 64)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.names.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Names%+v.Validate() = %v; want ok %v", tt.names, err, tt.ok)
			}
		})
	}
}
