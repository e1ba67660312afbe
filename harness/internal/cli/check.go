package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/flagstorm/flagstorm/harness/internal/run"
	"github.com/flagstorm/flagstorm/harness/internal/service"
	"github.com/flagstorm/flagstorm/scenarios"
)

// runCheckTarget is `flagstorm check-target`: start (or find) the target
// as a run would, run the preflight, print its report, stop.
func runCheckTarget(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("check-target", e)
	var t targetFlags
	t.define(fs, true)
	logLevel := fs.String("log-level", "warn", "log level of the stack: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, `Usage: flagstorm check-target [--target DESC | --target-url URL --toxiproxy-url URL] [FILE]

Starts (or finds) the target as "flagstorm run" would and checks it against the target
contract (docs/target-contract.md) before any load: readiness, the endpoints, fields and
data the scenario file uses (default: the built-in baseline), auth, a write read back, and
that its Redis and PostgreSQL traffic crosses flagstorm's proxies. Prints one line per
check; exits 0 when all pass, 4 naming each mismatch and its fix, 2 for bad input.

Flags:`)
		fs.PrintDefaults()
	}
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := t.check(e, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usageError("check-target takes at most one scenario file")
	}
	plan, err := checkPlan(fs.Args())
	if err != nil {
		return err
	}
	var desc *service.Description
	if t.file != "" {
		if desc, err = t.describedTarget(); err != nil {
			return err
		}
	}
	targets, _ := t.targets(plan.Spec, desc)
	ok, err := run.Check(ctx, plan, targets, e.stdout, newLogger(e.stderr, *logLevel))
	if err != nil {
		return err
	}
	if !ok {
		return &exitError{code: ExitInfra, err: errors.New("the target does not meet the contract: see the checks marked FAIL")}
	}
	return nil
}

// checkPlan is the plan whose data and requests the check uses.
func checkPlan(files []string) (*run.Plan, error) {
	if len(files) == 1 {
		return run.Load(files[0])
	}
	spec, err := scenarios.BuiltinNamed("baseline")
	if err != nil {
		return nil, err
	}
	return run.NewPlan(spec)
}
