package cli

import (
	"flag"
	"fmt"
	"strings"

	"github.com/flagstorm/flagstorm/harness/internal/run"
	"github.com/flagstorm/flagstorm/harness/internal/service"
	"github.com/flagstorm/flagstorm/scenarios"
)

// targetFlags are the flags that choose what a run drives: flagserver on
// the local stack (the default, per profile), a described service
// (--target FILE: a command on the local stack, per variant, or a running
// service), or a running service by URL (--target-url, with
// --toxiproxy-url for faults).
type targetFlags struct {
	targetURL     string
	toxiproxyURL  string
	redisAddr     string
	adminToken    string // resolved from adminSecret by check
	redisPassword string // resolved from redisSecret by check
	adminSecret   secretFlag
	redisSecret   secretFlag
	sourceHeader  string
	file          string
	variant       string
	profile       string
	flagserverBin string
	databaseURL   string
	env           map[string]string
}

func (t *targetFlags) define(fs *flag.FlagSet, remote bool) {
	t.env = map[string]string{}
	fs.StringVar(&t.file, "target", "", "target description `FILE` (docs/target-contract.md): your service, started on the local stack (command:) or already running (running:)")
	fs.StringVar(&t.variant, "variant", "", "with --target: run this variant only (default: every variant)")
	fs.Func("profile", "flagserver's cache profile only (hardened or seed), instead of the scenario's", func(v string) error {
		if _, err := scenarios.ParseProfile(v); err != nil || v == scenarios.ProfileBoth.String() {
			return fmt.Errorf("%q: want hardened or seed", v)
		}
		t.profile = v
		return nil
	})
	envFlag := func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return fmt.Errorf("%q: want KEY=VALUE", v)
		}
		t.env[k] = val
		return nil
	}
	fs.Func("env", "extra environment for the service the stack starts (flagserver or --target's command), KEY=VALUE (repeatable; e.g. an UNSAFE_ switch, a DEFECT)", envFlag)
	fs.Func("flagserver-env", "the same as --env (kept for scripts)", envFlag)
	fs.StringVar(&t.flagserverBin, "flagserver-bin", "", "flagserver binary for the local stack (default: next to flagstorm, bin/flagserver, or PATH)")
	fs.StringVar(&t.databaseURL, "database-url", "", "PostgreSQL for the local stack (used through the postgres proxy; default: a throwaway cluster, else SQLite); with --toxiproxy-url: your service's database, read directly for the oracle's truth")
	t.adminSecret.define(fs, "admin-token", "for a running service: the bearer token added to requests that write (PATCH)")
	if !remote {
		return
	}
	t.redisSecret.define(fs, "redis-password", "with --redis-addr (or a running: description's redis:): the password of that Redis (AUTH)")
	fs.StringVar(&t.targetURL, "target-url", "", "base URL of a running service (e.g. http://127.0.0.1:8080); several, comma-separated, spread the requests at random over them")
	fs.StringVar(&t.toxiproxyURL, "toxiproxy-url", "", "with --target-url: the Toxiproxy API in front of the service's backends (proxies named redis, postgres, redis-replica): faults and the oracle on")
	fs.StringVar(&t.redisAddr, "redis-addr", "", "with --toxiproxy-url: the Redis primary's direct address, for the backend cost (INFO)")
	fs.StringVar(&t.sourceHeader, "source-header", "X-Flag-Source", "with --target-url: the response header naming where an answer came from (redis, db, ...); \"\" if the service sends none")
}

// check rejects flags that do not go together and resolves the secrets
// (from args, files or the environment, warning on e.stderr about those
// given in args).
func (t *targetFlags) check(e env, args []string) error {
	var err error
	if t.adminToken, err = t.adminSecret.resolve(e, args); err != nil {
		return err
	}
	if t.redisSecret.name != "" {
		if t.redisPassword, err = t.redisSecret.resolve(e, args); err != nil {
			return err
		}
	}
	warnArgvURLs(e, args, "database-url", "target-url", "toxiproxy-url")
	switch {
	case t.redisPassword != "" && t.redisAddr == "" && t.file == "":
		return usageError("--redis-password goes with --redis-addr (or --target with a running: description that names redis:)")
	case t.targetURL != "" && t.file != "":
		return usageError("--target-url and --target both name the service: give one (a running service's description has running: with its URL)")
	case t.toxiproxyURL != "" && t.targetURL == "":
		return usageError("--toxiproxy-url goes with --target-url (a running service)")
	case t.redisAddr != "" && t.toxiproxyURL == "":
		return usageError("--redis-addr goes with --toxiproxy-url")
	case t.profile != "" && (t.targetURL != "" || t.file != ""):
		return usageError("--profile chooses flagserver's cache profile: with --target or --target-url there is no flagserver")
	case t.variant != "" && t.file == "":
		return usageError("--variant names a variant of a target description: give --target FILE")
	case len(t.env) > 0 && t.targetURL != "":
		return usageError("--env sets the environment of a service the stack starts: a running service's is not the harness's to change")
	}
	return nil
}

// describedTarget loads --target's description.
func (t *targetFlags) describedTarget() (*service.Description, error) {
	d, err := service.Load(t.file)
	if err != nil {
		return nil, &exitError{code: ExitUsage, err: err}
	}
	if t.variant != "" {
		if _, ok := d.Variants[t.variant]; !ok {
			return nil, usageError("--variant %q: %s has %s", t.variant, t.file, strings.Join(d.VariantNames(), ", "))
		}
	}
	if d.Running != nil && len(t.env) > 0 {
		return nil, usageError("--env: %s describes a running service, whose environment is not the harness's to change", t.file)
	}
	return d, nil
}

// targets are what a scenario runs against: nest says whether each run's
// reports go to a folder of their own (OUT/<file>/<target>).
func (t *targetFlags) targets(spec *scenarios.Spec, desc *service.Description) (targets []run.Target, nest bool) {
	switch {
	case t.targetURL != "" && t.toxiproxyURL != "":
		return []run.Target{run.Running{URLs: splitList(t.targetURL), AdminToken: t.adminToken, SourceHeader: t.sourceHeader,
			Toxiproxy: t.toxiproxyURL, DatabaseURL: t.databaseURL, Redis: t.redisAddr, RedisPassword: t.redisPassword}}, false
	case t.targetURL != "":
		return []run.Target{run.Remote{URLs: splitList(t.targetURL), AdminToken: t.adminToken, SourceHeader: t.sourceHeader}}, false
	case desc != nil:
		targets = run.Described(desc, t.variant, t.databaseURL, t.adminToken, t.env)
		for i, tg := range targets {
			if r, ok := tg.(run.Running); ok {
				r.RedisPassword = t.redisPassword
				targets[i] = r
			}
		}
		return targets, desc.Running == nil
	}
	profiles := spec.Profiles()
	if t.profile != "" {
		p, _ := scenarios.ParseProfile(t.profile)
		profiles = []scenarios.Profile{p}
	}
	for _, p := range profiles {
		targets = append(targets, run.Local{Profile: p.String(), FlagserverBin: t.flagserverBin, DatabaseURL: t.databaseURL, Env: t.env})
	}
	return targets, true
}
