package deploytest

import (
	"debug/buildinfo"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMakeBuildTargets runs each build-<LogicalId> target the way `sam build` does
// (ARTIFACTS_DIR in the environment) and checks the bootstrap it leaves there: a
// static linux/arm64 ELF executable built with the contract's flags.
func TestMakeBuildTargets(t *testing.T) {
	makeBin := requireTool(t, "make", "apt-get install make")
	for _, fn := range functions {
		t.Run(fn.id, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), fn.id)
			out, err := run(t, 5*time.Minute, []string{"ARTIFACTS_DIR=" + dir}, makeBin, "--no-print-directory", "build-"+fn.id)
			if err != nil {
				t.Fatalf("make build-%s: %v\n%s", fn.id, err, out)
			}
			bootstrap := filepath.Join(dir, "bootstrap")
			checkELF(t, bootstrap)
			checkBuildSettings(t, bootstrap, "github.com/ffbroker/ffbroker/cmd/"+fn.cmd)
		})
	}
}

// checkELF requires a static, stripped 64-bit AArch64 executable.
func checkELF(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s is not an ELF file: %v", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 || f.Type != elf.ET_EXEC {
		t.Errorf("%s: machine %v, class %v, type %v; want EM_AARCH64, ELFCLASS64, ET_EXEC", path, f.Machine, f.Class, f.Type)
	}
	// -ldflags='-s -w' (not recorded in the build information with -trimpath):
	// no symbol table, no DWARF.
	for _, sec := range f.Sections {
		if sec.Name == ".symtab" || strings.HasPrefix(sec.Name, ".debug_") || strings.HasPrefix(sec.Name, ".zdebug_") {
			t.Errorf("%s has section %s; want it stripped (-ldflags='-s -w')", path, sec.Name)
		}
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter (dynamically linked); want a static binary (CGO_ENABLED=0)", path)
		}
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm()&0o111 == 0 {
		t.Errorf("%s is not executable: %v %v", path, info.Mode(), err)
	}
}

// checkBuildSettings reads the Go build information embedded in the binary.
func checkBuildSettings(t *testing.T, path, mainPkg string) {
	t.Helper()
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: no Go build information: %v", path, err)
	}
	if info.Path != mainPkg {
		t.Errorf("%s was built from %s; want %s", path, info.Path, mainPkg)
	}
	got := map[string]string{}
	for _, s := range info.Settings {
		got[s.Key] = s.Value
	}
	want := map[string]string{
		"GOOS":        "linux",
		"GOARCH":      "arm64",
		"CGO_ENABLED": "0",
		"-tags":       "lambda.norpc",
		"-trimpath":   "true",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s build setting %s = %q; want %q", path, k, got[k], v)
		}
	}
}

// TestMakeBuildLambdas: make build-lambdas builds all four into bin/<LogicalId>/,
// even when ARTIFACTS_DIR is set. A dry run (make -n) shows the commands without
// writing into the repository.
func TestMakeBuildLambdas(t *testing.T) {
	makeBin := requireTool(t, "make", "apt-get install make")
	out, err := run(t, time.Minute, []string{"ARTIFACTS_DIR=/elsewhere"}, makeBin, "-n", "--no-print-directory", "build-lambdas")
	if err != nil {
		t.Fatalf("make -n build-lambdas: %v\n%s", err, out)
	}
	for _, fn := range functions {
		want := "-o bin/" + fn.id + "/bootstrap ./cmd/" + fn.cmd
		if !strings.Contains(out, want) {
			t.Errorf("make -n build-lambdas does not build %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "/elsewhere") {
		t.Errorf("make build-lambdas followed ARTIFACTS_DIR:\n%s", out)
	}
}
