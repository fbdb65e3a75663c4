package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/ffbroker/ffbroker/broker"
)

// Vars are the psql variables of sql/bootstrap.sql. Empty fields keep the script's
// defaults.
type Vars struct {
	Prefix    string
	DBName    string
	AppSchema string
	Flavor    string
}

// Names returns the broker.Names a bootstrap with v runs with, defaults applied.
func (v Vars) Names() broker.Names {
	return broker.Names{Prefix: v.Prefix, DBName: v.DBName, AppSchema: v.AppSchema}.WithDefaults()
}

// RoleModel names what a bootstrap created, as tests address it: the role names
// broker derives from the Names it ran with, its database and its schema. It derives
// nothing itself.
type RoleModel struct {
	broker.Roles
	// Names are the names the bootstrap ran with, defaults applied.
	Names broker.Names
	// DB and AppSchema are Names.DBName and Names.AppSchema.
	DB, AppSchema string
}

// Model returns the RoleModel a bootstrap with v creates.
func (v Vars) Model() RoleModel {
	n := v.Names()
	return RoleModel{Roles: n.Roles(), Names: n, DB: n.DBName, AppSchema: n.AppSchema}
}

// SQLDir finds the repository's sql/ directory from the working directory upwards.
func SQLDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "sql"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("pgtest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Psql returns the psql client to use: the one beside the server binaries when there
// is one, else the one on PATH (a newer server accepts an older client).
func (c *Cluster) Psql() string {
	if p := filepath.Join(c.BinDir, "psql"); fileExists(p) {
		return p
	}
	return "psql"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Bootstrap runs sql/bootstrap.sql through psql as the master user, connected to the
// postgres database, exactly as a DBA would. It returns psql's combined output (the
// NOTICEs included) and an error when psql fails.
func (c *Cluster) Bootstrap(ctx context.Context, v Vars) (string, error) {
	dir, err := SQLDir()
	if err != nil {
		return "", err
	}
	args := []string{"-X", "-v", "ON_ERROR_STOP=1", "-h", c.Host, "-p", strconv.Itoa(c.Port),
		"-U", MasterUser, "-d", "postgres"}
	for _, kv := range [][2]string{{"prefix", v.Prefix}, {"db_name", v.DBName}, {"app_schema", v.AppSchema}, {"flavor", v.Flavor}} {
		if kv[1] != "" {
			args = append(args, "-v", kv[0]+"="+kv[1])
		}
	}
	args = append(args, "-f", filepath.Join(dir, "bootstrap.sql"))
	return c.RunPsql(ctx, MasterUser, MasterPassword, args...)
}

// RunPsql runs psql with args, the password passed through PGPASSWORD.
func (c *Cluster) RunPsql(ctx context.Context, user, password string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.Psql(), args...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10", "PGSSLMODE=disable")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("pgtest: psql as %s: %w\n%s", user, err, out.String())
	}
	return out.String(), nil
}

// SetPassword gives a login role a password, as a DBA would out of band (the
// bootstrap leaves every password NULL).
func (c *Cluster) SetPassword(ctx context.Context, role, password string) error {
	conn, err := c.ConnectSuper(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, fmt.Sprintf("ALTER ROLE %s PASSWORD %s",
		quoteIdent(role), quoteLiteral(password)))
	return err
}
