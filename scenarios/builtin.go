package scenarios

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// builtin holds the built-in scenario files, one experiment each, named
// after the experiment.
//
//go:embed *.yaml
var builtin embed.FS

// QuickNames are the built-in scenarios of the quick suite (flagstorm
// suite --quick, make loadtest-quick, CI): one per kind of trouble — none,
// a hung Redis, lost invalidations, a cold start — at their full length.
// Compressing every file's clock instead was tried and changes verdicts:
// retry budgets (seed's 4 × 2 s) do not shrink with the phases, and a
// fault's share of the run moves whole-run percentiles.
var QuickNames = []string{"baseline", "redis-blackhole", "invalidation-during-outage", "cold-start"}

// ErrNotBuiltin is returned (wrapped) by BuiltinNamed for a name that is
// not a built-in scenario.
var ErrNotBuiltin = errors.New("scenarios: not a built-in scenario")

// BuiltinNames returns the names of the built-in scenarios, sorted.
func BuiltinNames() []string {
	files, _ := fs.Glob(builtin, "*.yaml") // the pattern is valid
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, strings.TrimSuffix(f, ".yaml"))
	}
	slices.Sort(names)
	return names
}

// Builtin parses every built-in scenario, sorted by name.
func Builtin() ([]*Spec, error) {
	var (
		out  []*Spec
		errs []error
	)
	for _, name := range BuiltinNames() {
		s, err := BuiltinNamed(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// BuiltinNamed parses the built-in scenario called name, like
// "redis-outage". Errors name the file as scenarios/NAME.yaml, its path in
// the repository.
func BuiltinNamed(name string) (*Spec, error) {
	data, err := BuiltinSource(name)
	if err != nil {
		return nil, err
	}
	return Parse(path.Join("scenarios", name+".yaml"), data)
}

// BuiltinSource returns the bytes of the built-in scenario called name,
// as embedded in the binary: what a run of it parsed, wherever the
// binary runs.
func BuiltinSource(name string) ([]byte, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: %q (built-ins: %s)", ErrNotBuiltin, name, strings.Join(BuiltinNames(), ", "))
	}
	data, err := builtin.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("%w: %q (built-ins: %s)", ErrNotBuiltin, name, strings.Join(BuiltinNames(), ", "))
	}
	return data, nil
}
