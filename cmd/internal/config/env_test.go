package config_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/cmd/internal/config"
)

// moduleRoot is the repository root, three levels above this package.
const moduleRoot = "../../.."

// envReaders may read the process environment themselves: this package and the
// test harnesses, which pick their binaries (FFB_PG_BIN, FFB_IAMSIM_MODULES), CI
// and PATH, and pass the environment on to the processes they start.
var envReaders = []string{"cmd/internal/config", "internal/pgtest", "internal/awstest", "internal/iamsim", "internal/demo"}

// ffbReaders may name an FFB_* variable in a getenv call: this package and the
// harnesses' own FFB_PG_BIN and FFB_IAMSIM_MODULES.
var ffbReaders = []string{"cmd/internal/config", "internal/pgtest", "internal/iamsim"}

var ffbName = regexp.MustCompile(`FFB_[A-Z0-9_]+`)

// goFiles parses the module's non-test Go files, by path relative to the root.
func goFiles(t *testing.T) map[string]*ast.File {
	t.Helper()
	files := map[string]*ast.File{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(moduleRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != moduleRoot && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(moduleRoot, path)
		files[filepath.ToSlash(rel)] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("found %d Go files under %s; want the module's", len(files), moduleRoot)
	}
	return files
}

func inPackages(path string, pkgs []string) bool {
	return slices.Contains(pkgs, filepath.ToSlash(filepath.Dir(path)))
}

// readsOfTheEnvironment are the places in f that read the environment outside
// config: os.Getenv, os.LookupEnv and os.Environ anywhere (unless envReader), and
// any getenv-like call with an FFB_* name (unless ffbReader).
func readsOfTheEnvironment(fset *token.FileSet, f *ast.File, envReader, ffbReader bool) []string {
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && x.Name == "os" && !envReader {
				switch n.Sel.Name {
				case "Getenv", "LookupEnv", "Environ":
					out = append(out, "os."+n.Sel.Name)
				}
			}
		case *ast.CallExpr:
			var name string
			switch fn := n.Fun.(type) {
			case *ast.Ident:
				name = fn.Name
			case *ast.SelectorExpr:
				name = fn.Sel.Name
			}
			if l := strings.ToLower(name); (l == "getenv" || l == "lookupenv") && len(n.Args) == 1 && !ffbReader {
				if lit, ok := n.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, _ := strconv.Unquote(lit.Value); strings.HasPrefix(s, "FFB_") {
						out = append(out, name+"("+lit.Value+")")
					}
				}
			}
		}
		return true
	})
	return out
}

// Only this package reads FFB_* variables, and only it and the test harnesses read
// the process environment.
func TestOnlyConfigReadsTheEnvironment(t *testing.T) {
	var offenders []string
	for path, f := range goFiles(t) {
		for _, r := range readsOfTheEnvironment(token.NewFileSet(), f, inPackages(path, envReaders), inPackages(path, ffbReaders)) {
			offenders = append(offenders, path+": "+r)
		}
	}
	slices.Sort(offenders)
	if len(offenders) > 0 {
		t.Errorf("the environment is read outside cmd/internal/config (read it there and pass the value):\n%s", strings.Join(offenders, "\n"))
	}
}

// The check above finds what it is for: a getenv of an FFB_* name and an os.Getenv.
func TestTheEnvironmentCheckFindsAReader(t *testing.T) {
	src := "package p\nimport \"os\"\nfunc f(c struct{ getenv func(string) string }) { _ = c.getenv(\"FFB_X\"); _ = os.Getenv(\"HOME\") }\n"
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := readsOfTheEnvironment(fset, f, false, false)
	if want := []string{"getenv(\"FFB_X\")", "os.Getenv"}; !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Errorf("readsOfTheEnvironment = %q; want %q", got, want)
	}
}

// Variables lists exactly the FFB_* names this package's code reads.
func TestVariablesAreThePackagesNames(t *testing.T) {
	seen := map[string]bool{}
	for path, f := range goFiles(t) {
		if filepath.ToSlash(filepath.Dir(path)) != "cmd/internal/config" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				for _, m := range ffbName.FindAllString(lit.Value, -1) {
					seen[m] = true
				}
			}
			return true
		})
	}
	got := config.Variables()
	var want []string
	for k := range seen {
		want = append(want, k)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Variables() = %q;\nthe package's code names %q", got, want)
	}
}

// README.md's tables of variables (header "variable") list exactly Variables().
func TestREADMEListsEveryVariable(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(moduleRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	inTable := false
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := strings.Split(line, "|")
		first := strings.TrimSpace(cells[1])
		if first == "variable" {
			inTable = true
			continue
		}
		if inTable {
			for _, m := range ffbName.FindAllString(first, -1) {
				documented[m] = true
			}
		}
	}
	read := map[string]bool{}
	for _, v := range config.Variables() {
		read[v] = true
		if !documented[v] {
			t.Errorf("README.md's configuration tables lack %s, which cmd/internal/config reads", v)
		}
	}
	for v := range documented {
		if !read[v] {
			t.Errorf("README.md's configuration tables list %s, which nothing reads", v)
		}
	}
}
