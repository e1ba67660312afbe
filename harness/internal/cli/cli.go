// Package cli is the flagstorm command line: one flag.FlagSet per
// subcommand, environment fallbacks (FLAGSTORM_*), usage texts, and the
// mapping of every command's outcome onto the binary's one exit-code
// table (package exitcode), decided in one place: exitCode. The work
// itself is elsewhere: a run in package run, the gate in package gate,
// the stack in package stack.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"sort"
	"strings"

	"github.com/flagstorm/flagstorm/harness/internal/exitcode"
	"github.com/flagstorm/flagstorm/harness/internal/run"
)

// Exit codes: the binary's one table (package exitcode), for every
// command. k6 uses 99 for a failed threshold; we keep 1 for shells.
const (
	ExitOK           = exitcode.OK           // every threshold passed; go
	ExitFailed       = exitcode.Failed       // a threshold failed; no-go
	ExitUsage        = exitcode.Usage        // invalid usage or input
	ExitInconclusive = exitcode.Inconclusive // not enough evidence to judge
	ExitInfra        = exitcode.Infra        // could not evaluate: infrastructure
	ExitInterrupted  = exitcode.Interrupted  // interrupted, after cleanup
)

// exitCodesLine is the table in one line, for usage texts.
const exitCodesLine = "Exit codes: 0 pass (go), 1 threshold failed (no-go), 2 invalid usage or input, 3 inconclusive, 4 could not evaluate (infrastructure), 130 interrupted."

// outcome is the exit of finished runs: their worst verdict, or
// interrupted when ctx ended.
func outcome(ctx context.Context, verdicts ...string) error {
	code := exitcode.Worst(verdicts...)
	if ctx.Err() != nil {
		code = ExitInterrupted
	}
	if code == ExitOK {
		return nil
	}
	return &exitError{code: code, err: errReported}
}

// exitError carries an exit code; anything else returned by a command is
// an infrastructure failure.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, a ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, a...)}
}

// env is the command's view of the process environment and streams.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	// describe, when set, receives the command's flags in place of
	// parsing them, and the command stops there (see FlagNames).
	describe func(*flag.FlagSet)
}

type command struct {
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"gate":         {gateSummary, runGate},
		"check-target": {"check a service against the target contract, and that its traffic crosses the proxies, before any load", runCheckTarget},
		"suite":        {"run the built-in resilience suite on the local stack under both profiles; print the matrix and out/index.html", runSuite},
		"stack":        {"start Redis (primary and replica), PostgreSQL, Toxiproxy and flagserver; print the endpoints; run until Ctrl-C", runStack},
		"run":          {"run a scenario file against a target and judge its thresholds", runRun},
		"validate":     {"check scenario files without running them", runValidate},
		"version":      {"print the version", runVersion},
		"export":       {exportSummary, runExport},
		"judge":        {judgeSummary, runJudge},
		"merge":        {mergeSummary, runMerge},
		"k8s":          {k8sSummary, runK8s},
	}
}

// Main runs the flagstorm command and returns its exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := env{getenv: getenv, stdout: stdout, stderr: stderr}
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout, cmds)
		return ExitOK
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "flagstorm: unknown command %q\n", args[0])
		printUsage(stderr, cmds)
		return ExitUsage
	}
	err := c.run(ctx, e, args[1:])
	code := exitCode(ctx, err)
	if err != nil && !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errReported) {
		fmt.Fprintf(stderr, "flagstorm %s: %v\n", args[0], err)
	}
	return code
}

// errReported marks an error whose message the command already printed
// (flag parsing errors).
var errReported = errors.New("reported")

func exitCode(ctx context.Context, err error) int {
	var ee *exitError
	var invalid *run.InvalidError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &invalid):
		return ExitUsage
	default:
		return ExitInfra
	}
}

func printUsage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "flagstorm: load and resilience tests for a cache in front of a database.")
	fmt.Fprintln(w, "\nUsage: flagstorm <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\n"+exitCodesLine)
	fmt.Fprintln(w, "Every flag has an environment fallback FLAGSTORM_<FLAG> (e.g. --target-url: FLAGSTORM_TARGET_URL); a flag wins over the environment.")
}

// newFlagSet returns a FlagSet whose errors are printed once, with usage.
func newFlagSet(name string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet("flagstorm "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parse applies FLAGSTORM_* environment fallbacks to flags not given on
// the command line, then checks for stray arguments when want is 0.
func parse(fs *flag.FlagSet, e env, args []string) error {
	if e.describe != nil {
		e.describe(fs)
		return errDescribed
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: ExitUsage, err: errReported}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		name := EnvName(f.Name)
		if v := e.getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	return nil
}

// errDescribed stops a command whose flags were described.
var errDescribed = errors.New("flags described")

// FlagNames lists the flags of a command, like "run" or "gate evaluate",
// for checks of the environment others give flagstorm (docker-compose's
// FLAGSTORM_* variables must each name one).
func FlagNames(command string) ([]string, error) {
	words := strings.Fields(command)
	if len(words) == 0 {
		return nil, errors.New("no command")
	}
	c, ok := commands()[words[0]]
	if !ok {
		return nil, fmt.Errorf("unknown command %q", words[0])
	}
	var names []string
	e := env{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard,
		describe: func(fs *flag.FlagSet) { fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) }) }}
	if err := c.run(context.Background(), e, words[1:]); !errors.Is(err, errDescribed) {
		return nil, fmt.Errorf("command %q has no flags to describe (%v)", command, err)
	}
	return names, nil
}

// flagCommands are the commands that take flags, gate's by subcommand.
var flagCommands = []string{"run", "validate", "suite", "stack", "check-target", "gate evaluate", "gate serve", "version", "export k6", "judge", "merge", "k8s render"}

// testVariables are FLAGSTORM_ variables that are not flags: the tests'
// settings (FLAGSTORM_TEST_DATABASE_URL, FLAGSTORM_TEST_PG, the report
// tests' browser and screenshot).
var testVariables = []string{"FLAGSTORM_TEST_", "FLAGSTORM_CHROMIUM", "FLAGSTORM_SCREENSHOT"}

// UnknownEnv returns the FLAGSTORM_ variables of environ ("KEY=VALUE"
// entries, as os.Environ gives them) that name no flag of any command:
// misspelt, or left over from a flag that is gone. flagstorm would ignore
// them without a word, so main warns about them.
func UnknownEnv(environ []string) []string {
	known := map[string]bool{}
	for _, c := range flagCommands {
		names, err := FlagNames(c)
		if err != nil {
			continue
		}
		for _, n := range names {
			known[EnvName(n)] = true
		}
	}
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "FLAGSTORM_") || known[k] || slices.ContainsFunc(testVariables, func(p string) bool { return strings.HasPrefix(k, p) }) {
			continue
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// EnvName is a flag's environment fallback: --target-url → FLAGSTORM_TARGET_URL.
func EnvName(flagName string) string {
	return "FLAGSTORM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func runVersion(_ context.Context, e env, args []string) error {
	fs := newFlagSet("version", e)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "flagstorm", version())
	return nil
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version + " " + bi.GoVersion
	}
	return "(devel)"
}
