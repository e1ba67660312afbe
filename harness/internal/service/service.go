// Package service reads a target description: how flagstorm starts (or
// finds) a service it did not write, how the service learns its backends,
// and which optional parts of the target contract (docs/target-contract.md)
// it has. One description serves every scenario file.
//
//	version: 1
//	name: minimal-go
//	command:
//	  argv: ["./bin/minimal-go"]
//	  env: {LISTEN_ADDR: "{{listen}}", REDIS_URL: "{{redis_url}}", DATABASE_URL: "{{database_url}}", ADMIN_TOKEN: "{{admin_token}}"}
//	ready: /readyz
//	seed: {sql: seed.sql}
//	variants:
//	  correct: {}
//	  stale: {env: {DEFECT: stale-after-outage}, expect: {redis-outage: ["stale_reads count==0"]}}
//	oracle: {nonce: description, truth: "SELECT description FROM flags WHERE env = $1 AND flag_key = $2"}
package service

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Version is the description format's version.
const Version = 1

// Description is a service under test.
type Description struct {
	// File is where the description was read from; Dir its folder, which
	// relative paths (argv[0] with a slash, seed.sql, dir) are taken from.
	File, Dir string
	// Name names the service in reports.
	Name string
	// Command starts the service; nil for a running service.
	Command *Command
	// Running is a service that is already up; nil for a command.
	Running *Running
	// Ready is the readiness path: 200 once the service can answer.
	// Default /readyz.
	Ready string
	// ReadyTimeout bounds a start. Default 30s.
	ReadyTimeout time.Duration
	// Seed creates the scenario's flags before the run; nil: the service
	// seeds itself (or a running service has them).
	Seed *Seed
	// Variants are named environment sets (for command services); the
	// scenario's expect: lists name them. Default: one, "default".
	Variants map[string]Variant
	// Oracle says how reads are judged against writes.
	Oracle Oracle
	// SourceHeader is the response header naming where an answer came
	// from (redis, db, db-fallback, memory, stale); "" when the service
	// sends none. Default "" (flagserver's is X-Flag-Source).
	SourceHeader string
}

// Command is how the stack runs one instance. Argv and Env values are
// templates: {{name}} placeholders (Placeholders) are filled with the
// stack's addresses. The stack passes on its own environment except the
// host, port and URL variables of Redis and PostgreSQL (Scrubbed) and
// whatever Env sets.
type Command struct {
	Argv []string
	Env  map[string]string
	// Dir is the working directory, relative to the description's folder;
	// default that folder.
	Dir string
}

// Running is a service flagstorm did not start.
type Running struct {
	// URL is the service's base URL.
	URL string `yaml:"url"`
	// Toxiproxy is the URL of the Toxiproxy API in front of its backends,
	// with proxies named redis, postgres and optionally redis-replica.
	Toxiproxy string `yaml:"toxiproxy"`
	// DatabaseURL reaches the service's PostgreSQL directly (not through
	// Toxiproxy) for the oracle's truth. Optional.
	DatabaseURL string `yaml:"databaseURL"`
	// Redis and RedisReplica are the Redis servers' direct addresses,
	// for actions (flush, failover). Optional.
	Redis        string `yaml:"redis"`
	RedisReplica string `yaml:"redisReplica"`
	// Proxies are created on the Toxiproxy when absent (by name: redis,
	// postgres, redis-replica), for a service you point at their listen
	// addresses; a proxy that exists is used as it is.
	Proxies map[string]Proxy `yaml:"proxies"`
}

// Proxy is one Toxiproxy proxy: where it listens, what it forwards to.
type Proxy struct {
	Listen   string `yaml:"listen"`
	Upstream string `yaml:"upstream"`
}

// Seed creates the flags: a command run once (same environment as the
// service) or an SQL file the harness runs against the database. Either
// may use the placeholders.
type Seed struct {
	Argv []string
	SQL  string // a file, relative to the description's folder
}

// Variant is an environment set added to Command.Env.
type Variant struct {
	Env map[string]string `yaml:"env"`
	// Expect lists, per scenario name, the thresholds this variant is
	// expected to fail, written as in a scenario file's expect: lists.
	// When set (even empty) it replaces the scenario files' expect lists
	// for the variant: the built-in files were written for flagserver's
	// profiles, the description knows its service. Nil: the files' lists.
	Expect map[string][]Expectation `yaml:"expect"`
}

// Expectation is one item of an expect: list: a threshold as the harness
// prints it ("stale_reads count==0"), which must fail, or {may: "..."}, a
// threshold that may fail or pass (a race the service loses in some runs).
type Expectation struct {
	Threshold string
	May       bool
}

// UnmarshalYAML reads a string or {may: string}.
func (e *Expectation) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "may" && n.Content[1].Kind == yaml.ScalarNode {
		*e = Expectation{Threshold: n.Content[1].Value, May: true}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a threshold (\"http_req_duration p(95)<50\") or {may: \"...\"} for one that may fail or pass", n.Line)
	}
	*e = Expectation{Threshold: n.Value}
	return nil
}

// Oracle says how flagstorm judges reads without knowing the service's
// internals.
type Oracle struct {
	// Version is the flag field that grows with every write (an integer).
	// Default "version"; "" with Nonce.
	Version string
	// Nonce is a writable string field: the harness writes a fresh value
	// into it with every write and finds which write a read returns.
	Nonce string
	// Truth is an SQL query returning the field (Version or Nonce) of one
	// flag, with $1 the environment and $2 the key, run against the
	// database directly after the run to check that no acknowledged write
	// was lost. "" reads every written flag back through the API instead,
	// once the faults are off.
	Truth string
}

// Placeholders are the names a template may use.
var Placeholders = []string{
	"listen", "port", "admin_token", "instance", "dir",
	"redis_url", "redis_addr", "redis_host", "redis_port", "redis_password",
	"replica_url", "replica_addr",
	"database_url", "pg_host", "pg_port", "pg_database", "pg_user", "pg_password",
}

// SecretPlaceholders are the placeholders whose value holds a secret:
// redis_url, replica_url and database_url carry their passwords. In an
// argv they would be readable by every local user (ps, /proc); env: is
// private to the service's user.
var SecretPlaceholders = []string{"admin_token", "redis_url", "redis_password", "replica_url", "database_url", "pg_password"}

// SecretsInArgv returns the secret placeholders (SecretPlaceholders) that
// argv uses, each once, in order of appearance.
func SecretsInArgv(argv []string) []string {
	var out []string
	for _, a := range argv {
		for _, m := range placeholderRE.FindAllStringSubmatch(a, -1) {
			if slices.Contains(SecretPlaceholders, m[1]) && !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
	}
	return out
}

// Scrubbed are the variables flagstorm does not pass on from its own
// environment to a command service: with them a service could reach
// Redis or PostgreSQL around the proxies, and every fault would miss it.
var Scrubbed = []string{
	"REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_ADDR", "REDIS_PASSWORD", "REDIS_SENTINELS",
	"DATABASE_URL", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSERVICE", "PGSERVICEFILE", "PGPASSFILE",
	"POSTGRES_URL", "POSTGRES_HOST", "POSTGRES_PORT",
	"LISTEN_ADDR", "PORT", "HOST", "ADMIN_TOKEN",
}

// DefaultVariant is the variant of a description that names none.
const DefaultVariant = "default"

// wire is the file's shape; unknown keys are errors.
type wire struct {
	Version      int                `yaml:"version"`
	Name         string             `yaml:"name"`
	Command      *wireCommand       `yaml:"command"`
	Running      *Running           `yaml:"running"`
	Ready        string             `yaml:"ready"`
	ReadyTimeout string             `yaml:"readyTimeout"`
	Seed         *wireSeed          `yaml:"seed"`
	Variants     map[string]Variant `yaml:"variants"`
	Oracle       *wireOracle        `yaml:"oracle"`
	SourceHeader string             `yaml:"sourceHeader"`
}

type wireCommand struct {
	Argv []string          `yaml:"argv"`
	Env  map[string]string `yaml:"env"`
	Dir  string            `yaml:"dir"`
}

type wireSeed struct {
	Argv []string `yaml:"argv"`
	SQL  string   `yaml:"sql"`
}

type wireOracle struct {
	Version *string `yaml:"version"`
	Nonce   string  `yaml:"nonce"`
	Truth   string  `yaml:"truth"`
}

// Load reads and checks a description file.
func Load(path string) (*Description, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read target description: %w", err)
	}
	return Parse(path, data)
}

// Parse reads a description; every problem names the file and the field
// (and the line, for YAML errors).
func Parse(file string, data []byte) (*Description, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var w wire
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	d := &Description{
		File: file, Dir: filepath.Dir(file), Name: w.Name, Running: w.Running,
		Ready: w.Ready, SourceHeader: w.SourceHeader, Variants: w.Variants,
		Oracle: Oracle{Version: "version"},
	}
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", file, field, fmt.Sprintf(format, a...)))
	}
	if w.Version != Version {
		bad("version", "want %d (the description format's version), got %d", Version, w.Version)
	}
	if w.Command != nil {
		d.Command = &Command{Argv: w.Command.Argv, Env: w.Command.Env, Dir: w.Command.Dir}
	}
	if w.Seed != nil {
		d.Seed = &Seed{Argv: w.Seed.Argv, SQL: w.Seed.SQL}
	}
	if w.Oracle != nil {
		if w.Oracle.Version != nil {
			d.Oracle.Version = *w.Oracle.Version
		}
		d.Oracle.Nonce, d.Oracle.Truth = w.Oracle.Nonce, w.Oracle.Truth
		if d.Oracle.Nonce != "" && w.Oracle.Version == nil {
			d.Oracle.Version = ""
		}
	}
	if w.ReadyTimeout != "" {
		t, err := time.ParseDuration(w.ReadyTimeout)
		if err != nil || t <= 0 {
			bad("readyTimeout", "want a positive duration such as 30s, got %q", w.ReadyTimeout)
		}
		d.ReadyTimeout = t
	}
	d.withDefaults()
	errs = append(errs, d.validate(bad)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Description) withDefaults() {
	if d.Name == "" {
		d.Name = strings.TrimSuffix(filepath.Base(d.File), filepath.Ext(d.File))
	}
	if d.Ready == "" {
		d.Ready = "/readyz"
	}
	if d.ReadyTimeout == 0 {
		d.ReadyTimeout = 30 * time.Second
	}
	if len(d.Variants) == 0 {
		d.Variants = map[string]Variant{DefaultVariant: {}}
	}
}

var (
	placeholderRE = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)
	fieldRE       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	nameRE        = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	headerRE      = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

func (d *Description) validate(bad func(field, format string, a ...any)) []error {
	switch {
	case d.Command == nil && d.Running == nil:
		bad("command", "required: how to start the service (command:), or where it runs (running:)")
	case d.Command != nil && d.Running != nil:
		bad("running", "a description has command: or running:, not both")
	}
	if c := d.Command; c != nil {
		if len(c.Argv) == 0 || c.Argv[0] == "" {
			bad("command.argv", "required: the program and its arguments, as in [./bin/my-service]")
		}
		for i, a := range c.Argv {
			checkTemplate(bad, fmt.Sprintf("command.argv[%d]", i), a)
		}
		for _, k := range sortedKeys(c.Env) {
			if !fieldRE.MatchString(k) {
				bad("command.env."+k, "not a variable name")
			}
			checkTemplate(bad, "command.env."+k, c.Env[k])
		}
	}
	if r := d.Running; r != nil {
		if !strings.HasPrefix(r.URL, "http://") && !strings.HasPrefix(r.URL, "https://") {
			bad("running.url", "required: the service's base URL, as in http://127.0.0.1:8080")
		}
		if len(d.Variants) > 1 {
			bad("variants", "a running service has no variants: flagstorm cannot change its environment")
		}
		if len(r.Proxies) > 0 && r.Toxiproxy == "" {
			bad("running.proxies", "proxies are created on a Toxiproxy: give running.toxiproxy")
		}
		for _, n := range sortedKeys(r.Proxies) {
			if !slices.Contains([]string{"redis", "postgres", "redis-replica"}, n) {
				bad("running.proxies."+n, "want redis, postgres or redis-replica (the names the scenario files' faults use)")
			}
			if p := r.Proxies[n]; p.Listen == "" || p.Upstream == "" {
				bad("running.proxies."+n, "want listen: and upstream: (host:port each)")
			}
		}
	}
	if !strings.HasPrefix(d.Ready, "/") {
		bad("ready", "want a path such as /readyz, got %q", d.Ready)
	}
	if s := d.Seed; s != nil {
		switch {
		case len(s.Argv) > 0 && s.SQL != "":
			bad("seed", "a command (argv:) or an SQL file (sql:), not both")
		case len(s.Argv) == 0 && s.SQL == "":
			bad("seed", "want argv: (a command that creates the flags and exits) or sql: (a file)")
		case d.Running != nil:
			bad("seed", "a running service is not seeded by flagstorm: give it the flags yourself")
		}
		for i, a := range s.Argv {
			checkTemplate(bad, fmt.Sprintf("seed.argv[%d]", i), a)
		}
	}
	for _, n := range sortedKeys(d.Variants) {
		if !nameRE.MatchString(n) {
			bad("variants."+n, "a variant's name is lower-case letters, digits and - (at most 64)")
		}
		for _, k := range sortedKeys(d.Variants[n].Env) {
			checkTemplate(bad, "variants."+n+".env."+k, d.Variants[n].Env[k])
		}
		for _, sc := range sortedKeys(d.Variants[n].Expect) {
			if !nameRE.MatchString(sc) {
				bad("variants."+n+".expect."+sc, "a scenario's name (its name: field): lower-case letters, digits and -")
			}
		}
	}
	o := d.Oracle
	switch {
	case o.Version == "" && o.Nonce == "":
		bad("oracle", "name a version field (version:) or a writable nonce field (nonce:), or the oracle cannot tell writes apart")
	case o.Version != "" && o.Nonce != "":
		bad("oracle", "a version field or a nonce field, not both")
	}
	for f, v := range map[string]string{"oracle.version": o.Version, "oracle.nonce": o.Nonce} {
		if v != "" && !fieldRE.MatchString(v) {
			bad(f, "%q is not a JSON field name", v)
		}
	}
	if o.Truth != "" && !strings.Contains(o.Truth, "$1") || o.Truth != "" && !strings.Contains(o.Truth, "$2") {
		bad("oracle.truth", "the query takes the environment as $1 and the key as $2")
	}
	if d.SourceHeader != "" && !headerRE.MatchString(d.SourceHeader) {
		bad("sourceHeader", "%q is not a header name", d.SourceHeader)
	}
	return nil
}

func checkTemplate(bad func(field, format string, a ...any), field, s string) {
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(Placeholders, m[1]) {
			bad(field, "unknown placeholder {{%s}} (want one of %s)", m[1], strings.Join(Placeholders, ", "))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Expand fills a template's placeholders from values (every name must be
// there: Parse checked the names).
func Expand(s string, values map[string]string) string {
	return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
		return values[placeholderRE.FindStringSubmatch(m)[1]]
	})
}

// VariantNames lists the variants, sorted.
func (d *Description) VariantNames() []string { return sortedKeys(d.Variants) }

// Path resolves a path of the description (relative to its folder).
func (d *Description) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(d.Dir, p)
}
