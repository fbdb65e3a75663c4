package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// version is set at build time (-ldflags "-X main.version=v1.2.3"); else the module
// version or VCS revision the binary was built from. Only the linker writes it: the
// -X flag needs a package variable.
var version = ""

// globals are the flags every command takes, anywhere on its command line (before a
// "--"), as the AWS CLI's --profile, --region and --output do.
type globals struct {
	json    bool
	profile string
	region  string
	api     string
	local   bool
	version bool
}

// globalValueFlags returns the setters of the global flags that take a value.
func globalValueFlags() map[string]func(g *globals, v string) {
	return map[string]func(g *globals, v string){
		"profile": func(g *globals, v string) { g.profile = v },
		"region":  func(g *globals, v string) { g.region = v },
		"api":     func(g *globals, v string) { g.api = v },
	}
}

// globalBoolFlags returns the setters of the global flags that take none.
func globalBoolFlags() map[string]func(g *globals) {
	return map[string]func(g *globals){
		"json":    func(g *globals) { g.json = true },
		"local":   func(g *globals) { g.local = true },
		"version": func(g *globals) { g.version = true },
	}
}

// splitGlobals takes the global flags out of args (the command name and the command's
// own flags stay, in order). Arguments after "--" are the command's, untouched.
func splitGlobals(args []string) (globals, []string, error) {
	var g globals
	valueFlags, boolFlags := globalValueFlags(), globalBoolFlags()
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		name, value, hasValue := flagParts(a)
		if set, ok := boolFlags[name]; ok && (!hasValue || value == "true") {
			set(&g)
			continue
		}
		if set, ok := valueFlags[name]; ok {
			if !hasValue {
				if i+1 >= len(args) {
					return g, nil, &usageError{msg: fmt.Sprintf("flag --%s needs a value", name)}
				}
				i++
				value = args[i]
			}
			if value == "" {
				return g, nil, &usageError{msg: fmt.Sprintf("flag --%s needs a value", name)}
			}
			set(&g, value)
			continue
		}
		out = append(out, a)
	}
	return g, out, nil
}

// flagParts splits "-name", "--name" and "--name=value"; name is "" for anything else.
func flagParts(a string) (name, value string, hasValue bool) {
	if !strings.HasPrefix(a, "-") || a == "-" {
		return "", "", false
	}
	a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	name, value, hasValue = strings.Cut(a, "=")
	return name, value, hasValue
}

// versionText is what --version prints.
func versionText() string {
	v, rev := version, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if rev != "" {
		v += " (" + rev + ")"
	}
	return "ffbroker " + v
}

func printVersion(w io.Writer) { fmt.Fprintln(w, versionText()) }
