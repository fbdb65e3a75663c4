package sqlscripts

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
)

// A FunctionGrant is one `GRANT EXECUTE ON FUNCTION db_admin.f(types) TO :"login";` line
// of the scripts.
type FunctionGrant struct {
	// Function is the function as "schema.name(argument types)".
	Function string
	// Login is the psql variable that names the grantee, e.g. "broker_role".
	Login string
	// File is the script the line is in.
	File string
}

var grantLine = regexp.MustCompile(`^GRANT EXECUTE ON FUNCTION (db_admin\.[a-z_]+\([a-z0-9 ,\[\]]*\)) TO :"([a-z_]+)";$`)

// FunctionGrants returns every EXECUTE the scripts grant on a function, in file and line
// order. They are the one source of the lists of functions each login may execute: a
// line that starts with GRANT EXECUTE in another form is an error, so that no grant
// escapes the lists.
func FunctionGrants() ([]FunctionGrant, error) { return functionGrants(scripts) }

func functionGrants(fsys fs.FS) ([]FunctionGrant, error) {
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []FunctionGrant
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(strings.ToUpper(line), "GRANT EXECUTE") {
				continue
			}
			m := grantLine.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("sql/%s:%d: a GRANT EXECUTE not in the form GRANT EXECUTE ON FUNCTION db_admin.f(types) TO :\"login\";", f, n)
			}
			out = append(out, FunctionGrant{Function: m[1], Login: m[2], File: f})
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
