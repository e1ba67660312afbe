package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/oracle"
	"github.com/flagstorm/flagstorm/harness/internal/service"
	"github.com/flagstorm/flagstorm/internal/secret"
	"github.com/flagstorm/flagstorm/scenarios"
)

// Plans plans the files given, or else the built-in scenarios (those
// named in only, when any). An unknown name is an *InvalidError listing
// the built-ins.
func Plans(files, only []string) ([]*Plan, error) {
	var plans []*Plan
	if len(files) > 0 {
		for _, f := range files {
			p, err := Load(f)
			if err != nil {
				return nil, err
			}
			plans = append(plans, p)
		}
		return plans, nil
	}
	all, err := scenarios.Builtin()
	if err != nil {
		return nil, &InvalidError{Err: err}
	}
	var missing []string
	for _, n := range only {
		if !slices.ContainsFunc(all, func(s *scenarios.Spec) bool { return s.Name == n }) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, &InvalidError{Err: fmt.Errorf("unknown built-in scenario(s) %v (have %s)", missing, strings.Join(scenarios.BuiltinNames(), ", "))}
	}
	for _, s := range all {
		if len(only) > 0 && !slices.Contains(only, s.Name) {
			continue
		}
		p, err := NewPlan(s)
		if err != nil {
			return nil, err
		}
		if data, err := scenarios.BuiltinSource(s.Name); err == nil {
			p.setSource(data)
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// Described are the targets of a description: one Command per variant
// (or only the one named), or the running service.
func Described(d *service.Description, variant, databaseURL, adminToken string, env map[string]string) []Target {
	if r := d.Running; r != nil {
		return []Target{Running{URLs: []string{r.URL}, AdminToken: adminToken, SourceHeader: d.SourceHeader,
			Toxiproxy: r.Toxiproxy, DatabaseURL: r.DatabaseURL, Truth: d.Oracle.Truth, Redis: r.Redis, Ready: d.Ready, Proxies: r.Proxies,
			Oracle: oracle.Field{Name: cmp.Or(d.Oracle.Nonce, d.Oracle.Version), Nonce: d.Oracle.Nonce != ""}}}
	}
	variants := d.VariantNames()
	if variant != "" {
		variants = []string{variant}
	}
	var out []Target
	for _, v := range variants {
		out = append(out, Command{Desc: d, Variant: v, DatabaseURL: databaseURL, Env: env})
	}
	return out
}

// Check starts each target as a run would, runs the preflight, and closes
// it, writing each report to w. It returns whether every target met the
// contract; an error means a target could not be started or checked.
func Check(ctx context.Context, p *Plan, targets []Target, w io.Writer, log *slog.Logger) (bool, error) {
	ok := true
	for _, t := range targets {
		sys, err := t.Start(ctx, p, w, log)
		if err != nil {
			return false, err
		}
		name := cmp.Or(t.Name(), strings.Join(secret.URLs(sys.URLs), ", "))
		rep, err := Preflight(ctx, p, name, sys)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_ = sys.Close(cctx)
		cancel()
		var pe *PreflightError
		switch {
		case errors.As(err, &pe):
			ok = false
		case err != nil:
			return false, err
		case len(rep.Checked) == 0:
			fmt.Fprintf(w, "%s: nothing to check (a service given by --target-url alone promises no contract; add --toxiproxy-url)\n", name)
			continue
		}
		fmt.Fprintf(w, "%s:\n%s\n", name, rep)
	}
	return ok, nil
}
