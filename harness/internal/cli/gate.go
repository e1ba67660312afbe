package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flagstorm/flagstorm/harness/internal/gate"
)

// gateSummary is the gate command's line in `flagstorm help`.
const gateSummary = "canary gate: judge a canary against its baseline from Prometheus (evaluate), or serve Argo Rollouts and Flagger (serve)"

// runGate is `flagstorm gate evaluate|serve`. Its exit codes are the
// binary's one table (cli.go): evaluate exits ExitOK on go, ExitFailed on
// no-go, ExitInconclusive on inconclusive, ExitInfra when Prometheus could
// not be queried, ExitUsage on usage errors, ExitInterrupted when
// interrupted (gateExitCode and runGateEvaluate).
func runGate(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		w := e.stdout
		if len(args) == 0 {
			w = e.stderr
		}
		printGateUsage(w)
		if len(args) == 0 {
			return &exitError{code: ExitUsage, err: errReported}
		}
		return nil
	}
	switch args[0] {
	case "evaluate":
		return runGateEvaluate(ctx, e, args[1:])
	case "serve":
		return runGateServe(ctx, e, args[1:])
	}
	printGateUsage(e.stderr)
	return usageError("unknown subcommand %q: want evaluate or serve", args[0])
}

// gateExitCode is the exit code of `gate evaluate` for a verdict.
func gateExitCode(v gate.Verdict) int {
	switch v {
	case gate.Go:
		return ExitOK
	case gate.NoGo:
		return ExitFailed
	case gate.Inconclusive:
		return ExitInconclusive
	}
	return ExitInfra // a verdict this binary does not know: not evaluated
}

func printGateUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  flagstorm gate evaluate --prometheus URL --canary SELECTOR --baseline SELECTOR [--config FILE] [--format table|json] [--dry-run]
  flagstorm gate serve --listen ADDR --prometheus URL [--config FILE] [--token-file FILE] [--max-evaluations N]

evaluate queries Prometheus for the canary and its baseline (p95 latency,
its ratio to the baseline, error rate, cache error rate, database fallback
rate, over a short and a long window) and prints the verdict.
serve answers Argo Rollouts (POST /v1/evaluate) and Flagger
(POST /v1/flagger/{hook}); /healthz, /metrics.

Exit codes of evaluate, as for every flagstorm command: 0 go, 1 no-go,
2 invalid usage or configuration, 3 inconclusive (too little traffic),
4 could not evaluate (Prometheus unreachable or a query failed),
130 interrupted.
Flags have environment fallbacks FLAGSTORM_<FLAG> (--prometheus: FLAGSTORM_PROMETHEUS).
See docs/canary-gate.md.
`)
}

func runGateEvaluate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("gate evaluate", e)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: flagstorm gate evaluate --prometheus URL --canary SELECTOR --baseline SELECTOR [flags]

Exit codes: 0 go, 1 no-go, 2 usage, 3 inconclusive, 4 could not evaluate,
130 interrupted.
With --dry-run it evaluates and prints the verdict, the exit code it would
have used and every PromQL query, and exits 0 (2 for usage errors).

Flags (environment fallback FLAGSTORM_<FLAG>):
`)
		fs.PrintDefaults()
	}
	var (
		promURL, canary, baseline, configPath, format string
		dryRun                                        bool
	)
	fs.StringVar(&promURL, "prometheus", "", "Prometheus base `URL`, like http://127.0.0.1:9090 (required)")
	fs.StringVar(&canary, "canary", "", "PromQL label matchers of the canary's series, like '{track=\"canary\"}' (required)")
	fs.StringVar(&baseline, "baseline", "", "PromQL label matchers of the baseline's series, like '{track=\"baseline\"}' (required)")
	fs.StringVar(&configPath, "config", "", "gate configuration `file`, YAML or JSON (default: built-in limits, see docs/canary-gate.md)")
	fs.StringVar(&format, "format", "table", "output: table or json")
	fs.BoolVar(&dryRun, "dry-run", false, "evaluate and print what the gate would say and the PromQL it runs, but always exit 0")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %q", fs.Args())
	}
	var errs []error
	if promURL == "" {
		errs = append(errs, errors.New("--prometheus: required (or FLAGSTORM_PROMETHEUS)"))
	}
	csel, err := gate.ParseSelector(canary)
	if canary == "" {
		errs = append(errs, errors.New("--canary: required, like '{track=\"canary\"}' (or FLAGSTORM_CANARY)"))
	} else if err != nil {
		errs = append(errs, fmt.Errorf("--canary: %w", err))
	}
	bsel, err := gate.ParseSelector(baseline)
	if baseline == "" {
		errs = append(errs, errors.New("--baseline: required, like '{track=\"baseline\"}' (or FLAGSTORM_BASELINE)"))
	} else if err != nil {
		errs = append(errs, fmt.Errorf("--baseline: %w", err))
	}
	if err == nil && !csel.IsZero() && csel.String() == bsel.String() {
		errs = append(errs, errors.New("--baseline: the same series as --canary: nothing to compare"))
	}
	if format != "table" && format != "json" {
		errs = append(errs, fmt.Errorf("--format %q: want table or json", format))
	}
	g, err := newGate(configPath, promURL, errs)
	if err != nil {
		return err
	}

	res, evalErr := g.Evaluate(ctx, gate.Request{Canary: csel, Baseline: bsel})
	if evalErr != nil && ctx.Err() != nil {
		return evalErr // interrupted: exitCode answers ExitInterrupted
	}
	code := ExitInfra // could not evaluate
	if evalErr == nil {
		code = gateExitCode(res.Verdict)
	}
	out := gate.Output{Format: format, Result: res, Err: evalErr, DryRun: dryRun, ExitCode: code, Plan: gate.Plan(g.Config(), csel, bsel)}
	if err := out.Write(e.stdout); err != nil {
		return err
	}
	switch {
	case dryRun:
		return nil
	case evalErr != nil:
		return &exitError{code: code, err: evalErr}
	case code != ExitOK:
		return &exitError{code: code, err: errReported}
	}
	return nil
}

func runGateServe(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("gate serve", e)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: flagstorm gate serve --listen ADDR --prometheus URL [--config FILE] [--token-file FILE]

Serves POST /v1/evaluate (Argo Rollouts' web metric provider), POST
/v1/flagger/{hook} (Flagger's webhooks), GET /healthz and GET /metrics
until SIGINT or SIGTERM, then shuts down within a few seconds (exit 0).

With a bearer token (--token-file, or the token itself in
FLAGSTORM_GATE_TOKEN; never on the command line) every /v1/ request must
send Authorization: Bearer TOKEN, else 401.

Flags (environment fallback FLAGSTORM_<FLAG>):
`)
		fs.PrintDefaults()
	}
	var promURL, listen, configPath, logLevel, tokenFile string
	var maxEvaluations int
	fs.StringVar(&listen, "listen", "127.0.0.1:9470", "`address` to serve on (\":9470\" for every interface, e.g. in a pod)")
	fs.StringVar(&promURL, "prometheus", "", "Prometheus base `URL` (required)")
	fs.StringVar(&configPath, "config", "", "gate configuration `file`, YAML or JSON (default: built-in limits)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error (logs go to stderr)")
	fs.StringVar(&tokenFile, "token-file", "", "`file` holding the bearer token /v1/ requests must send (or the token itself in "+gateTokenEnv+"; default: none)")
	fs.IntVar(&maxEvaluations, "max-evaluations", gate.DefaultMaxEvaluations, "evaluations in flight at most; one more is refused at once (Argo 503 BUSY, Flagger 424)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %q", fs.Args())
	}
	var errs []error
	level, err := parseLevel(logLevel)
	if err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	if promURL == "" {
		errs = append(errs, errors.New("--prometheus: required (or FLAGSTORM_PROMETHEUS)"))
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: want host:port: %w", listen, err))
	}
	if maxEvaluations < 1 {
		errs = append(errs, fmt.Errorf("--max-evaluations %d: want at least 1", maxEvaluations))
	}
	token, err := gateToken(tokenFile, e.getenv(gateTokenEnv))
	if err != nil {
		errs = append(errs, err)
	}
	g, err := newGate(configPath, promURL, errs)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := gate.NewServer(g, gate.ServerConfig{Token: token, MaxEvaluations: maxEvaluations}, log, reg)
	if err != nil {
		return usageError("%w", err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return &exitError{code: ExitInfra, err: fmt.Errorf("listen on %s: %w", listen, err)}
	}
	log.Info("gate serving", "addr", ln.Addr().String(), "prometheus", promURL,
		"windows", []string{g.Config().ShortWindow.String(), g.Config().LongWindow.String()}, "min_samples", g.Config().MinSamples,
		"token", token != "", "max_evaluations", maxEvaluations)
	start := time.Now()
	if err := srv.Serve(ctx, ln); err != nil {
		return &exitError{code: ExitInfra, err: err}
	}
	log.Info("gate stopped", "uptime", time.Since(start).Round(time.Second).String())
	return nil
}

// gateTokenEnv holds gate serve's bearer token itself. It is not a flag's
// fallback: a token is never given on the command line (argv is visible
// to every user of the machine).
const gateTokenEnv = "FLAGSTORM_GATE_TOKEN"

// gateToken reads the bearer token from the file or, without one, the
// environment's value; "" is no token. Both set is an error: which one
// wins would be a guess.
func gateToken(path, env string) (string, error) {
	switch {
	case path != "" && env != "":
		return "", fmt.Errorf("--token-file and %s are both set: give the token one way", gateTokenEnv)
	case path == "":
		return checkToken(env, gateTokenEnv)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	return checkToken(strings.TrimSpace(string(b)), "--token-file "+path)
}

func checkToken(tok, from string) (string, error) {
	tok = strings.TrimSpace(tok)
	if tok == "" && from != gateTokenEnv {
		return "", fmt.Errorf("%s: empty: want the bearer token", from)
	}
	if tok != "" && len(tok) < gate.MinTokenBytes {
		return "", fmt.Errorf("%s: token of %d bytes: want at least %d (e.g. openssl rand -hex 32)", from, len(tok), gate.MinTokenBytes)
	}
	if strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return "", fmt.Errorf("%s: want the token in printable ASCII without spaces", from)
	}
	return tok, nil
}

// newGate loads the configuration and the Prometheus client of both gate
// commands, joining their problems with the flag errors already found.
func newGate(configPath, promURL string, errs []error) (*gate.Gate, error) {
	cfg := gate.Default()
	var err error
	if configPath != "" {
		if cfg, err = gate.LoadConfig(configPath); err != nil {
			errs = append(errs, fmt.Errorf("--config: %w", err))
		}
	}
	var q gate.Querier
	if promURL != "" {
		if q, err = gate.NewQuerier(promURL, nil); err != nil {
			errs = append(errs, fmt.Errorf("--prometheus: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, usageError("%w", err)
	}
	g, err := gate.New(q, cfg)
	if err != nil {
		return nil, usageError("%w", err)
	}
	return g, nil
}
