package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/ffbroker/ffbroker/broker"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitConfig = 3
	exitRetry  = 4
)

// command is one subcommand.
type command struct {
	summary string
	usage   string // arguments and an example
	run     func(ctx context.Context, c *cli, args []string) error
}

// cli carries the streams and the shared flags of one run.
type cli struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
	json           bool
	// g are the global flags of this run.
	g globals
	// announced is set once the mode was said.
	announced bool
	// help is set when the command line asks for a command's help: it goes to
	// stdout, as the answer.
	help bool
}

// errSilent is a failure already reported on stderr.
var errSilent = errors.New("failed")

// usageError is a bad command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// configError is invalid configuration.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &cli{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, getenv: config.Getenv})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, c *cli) int {
	g, args, err := splitGlobals(args)
	if err != nil {
		return c.finish("", err)
	}
	c.g, c.json = g, g.json
	if g.version {
		printVersion(c.stdout)
		return exitOK
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printHelp(c.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commandTable()[args[0]]
	if !ok {
		fmt.Fprintf(c.stderr, "ffbroker: unknown command %q\n\n", args[0])
		printHelp(c.stderr)
		return exitUsage
	}
	c.help = wantsHelp(args[1:])
	err = cmd.run(ctx, c, args[1:])
	return c.finish(args[0], err)
}

// finish prints err the way the output mode asks and returns the exit code.
func (c *cli) finish(name string, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if errors.Is(err, errSilent) {
		return exitFailed
	}
	var ue *usageError
	var ce *configError
	var ae *apiError
	code := exitFailed
	switch {
	case errors.As(err, &ue):
		code = exitUsage
	case errors.As(err, &ce):
		code = exitConfig
	case errors.As(err, &ae) && ae.Code == "unavailable",
		errors.As(err, &ae) && ae.Status == 503,
		ae == nil && broker.Retryable(err):
		code = exitRetry
	}
	if c.json {
		e := map[string]any{"error": map[string]string{"code": errorCode(err, code), "message": jsonMessage(err)}}
		b, _ := json.Marshal(e)
		fmt.Fprintln(c.stderr, string(b))
	} else {
		prefix := "ffbroker"
		if name != "" {
			prefix += " " + name
		}
		fmt.Fprintf(c.stderr, "%s: %s\n", prefix, errorText(err))
		if code == exitUsage && name != "" {
			fmt.Fprintf(c.stderr, "run 'ffbroker %s --help' for usage\n", name)
		}
	}
	return code
}

func errorCode(err error, exit int) string {
	switch exit {
	case exitUsage:
		return "usage"
	case exitConfig:
		return "configuration"
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code
	}
	if errors.Is(err, errWaitEnded) {
		return "no_access"
	}
	return string(broker.ErrorCode(err))
}

// errorText is what an operator sees: the broker's user-facing message and code for
// broker errors, the text of anything else (never a secret: see broker.Error).
func errorText(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Error()
	}
	var be *broker.Error
	if errors.As(err, &be) {
		return fmt.Sprintf("%s (%s)", broker.ErrorMessage(err), broker.ErrorCode(err))
	}
	return err.Error()
}

// jsonMessage is the message of --json's error answer, as the API gives it: the broker's
// user-facing message (with its category) without the code, which has its own field.
func jsonMessage(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Message
	}
	var be *broker.Error
	if errors.As(err, &be) {
		return broker.ErrorMessage(err)
	}
	return err.Error()
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "ffbroker: break-glass access to Aurora PostgreSQL")
	fmt.Fprintln(w, "\nusage: ffbroker COMMAND [flags]\n\ncommands:")
	commands := commandTable()
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nglobal flags (anywhere): --json, --profile NAME, --region NAME, --api URL, --local, --version")
	fmt.Fprintln(w, "every command takes --help. Exit codes: 0 ok, 1 failed or refused, 2 usage, 3 configuration, 4 unreachable or busy: try again.")
	fmt.Fprintln(w, "Client mode (default): the API from 'ffbroker configure' or FFB_API_URL, with your AWS credentials.")
	fmt.Fprintln(w, "Local mode (--local, or FFB_DB_HOST without an API): the functions' code in-process, FFB_* variables (see README).")
}

// flags returns a flag set for command name with the shared --json flag.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	if c.help {
		fs.SetOutput(c.stdout)
	}
	fs.BoolVar(&c.json, "json", c.json, "print JSON for scripts")
	fs.Usage = func() {
		cmd := commandTable()[name]
		w := fs.Output()
		fmt.Fprintf(w, "usage: ffbroker %s %s\n\n%s\n\nflags:\n", name, strings.SplitN(cmd.usage, "\n", 2)[0], cmd.summary)
		fs.PrintDefaults()
		fmt.Fprintln(w, "\nglobal flags: --json, --profile NAME, --region NAME, --api URL, --local, --version")
		if parts := strings.SplitN(cmd.usage, "\n", 2); len(parts) == 2 {
			fmt.Fprintf(w, "\n%s\n", parts[1])
		}
	}
	return fs
}

// wantsHelp reports whether a command's arguments ask for its help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// parse parses args, turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// emit prints v as JSON with --json, else through human.
func (c *cli) emit(v any, human func(w io.Writer)) error {
	if c.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	human(c.stdout)
	return nil
}

// env is the command's own configuration, read through getenv.
func (c *cli) env() config.CLI { return config.ReadCLI(c.getenv) }
