// Package seed defines the flags a store creates when it is seeded, so that
// every store seeded with the same arguments holds the same data and the
// stores are interchangeable under the load scenarios.
package seed

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/flagstorm/flagstorm/target/internal/flags"
)

// Key is the key of the i-th seeded flag: flag-000, flag-001, …, flag-999,
// flag-1000, …
func Key(i int) string { return fmt.Sprintf("flag-%03d", i) }

// Flag is the i-th seeded flag of env at version 1. UpdatedAt is left zero:
// it is the store's to set.
func Flag(env string, i int) flags.Flag {
	return flags.Flag{
		Key:               Key(i),
		Environment:       env,
		Enabled:           i%2 == 0,
		RolloutPercentage: (i * 37) % 101,
		Description:       "Seeded flag " + strconv.Itoa(i),
		Version:           1,
	}
}

// Flags returns the n seeded flags of each environment, environments in the
// order given (duplicates dropped), keys in index order. It is an error if n
// is not positive, if envs is empty or if an environment name is not valid
// (flags.ValidEnvironment).
func Flags(envs []string, n int) ([]flags.Flag, error) {
	var errs []error
	if n <= 0 {
		errs = append(errs, fmt.Errorf("seed: number of flags must be positive, got %d", n))
	}
	if len(envs) == 0 {
		errs = append(errs, errors.New("seed: no environments given"))
	}
	seen := make(map[string]bool, len(envs))
	uniq := envs[:0:0]
	for _, env := range envs {
		if !flags.ValidEnvironment(env) {
			errs = append(errs, fmt.Errorf("seed: invalid environment name %q (want lower-case letters, digits and '-', starting with a letter, at most 32 bytes)", env))
			continue
		}
		if !seen[env] {
			seen[env] = true
			uniq = append(uniq, env)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	fs := make([]flags.Flag, 0, len(uniq)*n)
	for _, env := range uniq {
		for i := range n {
			fs = append(fs, Flag(env, i))
		}
	}
	return fs, nil
}
