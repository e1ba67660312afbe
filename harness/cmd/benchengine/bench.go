package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// env is what every part uses: the tools, the servers and the log.
type env struct {
	cfg       config
	flagstorm *flagstorm
	wrk       *benchkit.Wrk // nil when no part needs it
	hey       *hey          // nil when no part needs it
	pr        *benchkit.Prober
	hello     *server
	server    *server // flagserver; nil without the throughput part
	logf      func(format string, a ...any)
}

// server is one server under test.
type server struct {
	name string
	proc *benchkit.Proc
	addr string // host:port
}

func (s *server) base() string { return "http://" + s.addr }

// bench checks the tools, starts the servers, runs the selected parts
// and returns the report. Every child is stopped before it returns,
// whatever happens.
func bench(ctx context.Context, cfg config, command string, stderr io.Writer) (rep *report, err error) {
	needWrk := cfg.Parts[partThroughput] || cfg.Parts[partAccuracy] || cfg.Parts[partClients]
	needHey := cfg.Parts[partThroughput]
	var missing []string
	wrkPath, werr := exec.LookPath("wrk")
	if needWrk && werr != nil {
		missing = append(missing, "wrk")
	}
	heyPath, herr := exec.LookPath("hey")
	if needHey && herr != nil {
		missing = append(missing, "hey")
	}
	if len(missing) > 0 {
		return nil, benchkit.UsageError{Msg: fmt.Sprintf("benchengine: %v not found in PATH: install with `apt-get install -y wrk hey` (Debian packages)", missing)}
	}
	bins := []string{cfg.Flagstorm}
	if cfg.Parts[partThroughput] {
		bins = append(bins, cfg.Flagserver)
	}
	for _, b := range bins {
		if _, err := os.Stat(b); err != nil {
			return nil, benchkit.UsageError{Msg: fmt.Sprintf("benchengine: binary %s not found: run `make build` first (%v)", b, err)}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	dir, err := os.MkdirTemp("", "benchengine-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	e := &env{
		cfg:       cfg,
		flagstorm: &flagstorm{path: cfg.Flagstorm, dir: dir},
		pr:        benchkit.NewProber(),
		logf:      func(format string, a ...any) { fmt.Fprintf(stderr, "benchengine: "+format+"\n", a...) },
	}
	defer e.pr.Close()
	if needWrk {
		if e.wrk, err = benchkit.NewWrk(wrkPath, dir); err != nil {
			return nil, err
		}
	}
	if needHey {
		e.hey = &hey{path: heyPath}
	}

	children := &benchkit.Procs{Dir: dir}
	defer func() {
		if serr := children.StopAll(ctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop child processes: %w", serr))
		}
	}()

	rep = newReport(ctx, cfg, command, e)
	if err := startServers(ctx, e, children, self, dir); err != nil {
		return nil, err
	}
	steps := []struct {
		part part
		run  func() error
	}{
		{partThroughput, func() (err error) { rep.throughput, err = runThroughput(ctx, e); return err }},
		{partAccuracy, func() (err error) { rep.accuracy, err = runAccuracy(ctx, e); return err }},
		{partMemory, func() (err error) { rep.memory, err = runMemory(ctx, e); return err }},
		{partClients, func() (err error) { rep.clients, err = runClients(ctx, e, self); return err }},
	}
	for _, s := range steps {
		if !cfg.Parts[s.part] {
			continue
		}
		rep.loads = append(rep.loads, partLoad{s.part, benchkit.LoadAvg()})
		if err := s.run(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.part, err)
		}
	}
	rep.loadEnd = benchkit.LoadAvg()
	return rep, nil
}

// startServers starts the hello server (this program re-executed in
// -serve mode) and, for the throughput part, flagserver: SQLite in a
// temporary file, SEED_FLAGS=100, no Redis, the hardened profile.
func startServers(ctx context.Context, e *env, g *benchkit.Procs, self, dir string) error {
	httpReady := func(addr string) func(context.Context) error { return e.pr.Ready("http://" + addr + "/readyz") }
	p, addr, err := g.StartServer(ctx, "hello", self, func(addr string) ([]string, []string) {
		return []string{"-serve", "-addr", addr}, benchkit.ChildEnv()
	}, httpReady)
	if err != nil {
		return err
	}
	e.hello = &server{name: "hello", proc: p, addr: addr}
	e.logf("hello server on %s", addr)
	if !e.cfg.Parts[partThroughput] {
		return nil
	}
	p, addr, err = g.StartServer(ctx, "flagserver", e.cfg.Flagserver, func(addr string) ([]string, []string) {
		return []string{"serve"}, benchkit.ChildEnv(
			"LISTEN_ADDR="+addr,
			"SQLITE_PATH="+filepath.Join(dir, "flagserver.db"),
			"CACHE_PROFILE=hardened",
			"SEED_FLAGS=100",
			"LOG_LEVEL=warn",
			"LOG_FORMAT=json",
		)
	}, httpReady)
	if err != nil {
		return err
	}
	e.server = &server{name: "flagserver", proc: p, addr: addr}
	e.logf("flagserver on %s (SQLite, no Redis, hardened profile)", addr)
	return nil
}

// measure runs one load generator run through do, with the server's CPU
// time read before and after; a server that died during the run is an
// error.
func measure(s *server, do func() (result, error)) (result, error) {
	var res result
	cpu, err := s.proc.CPUDuring(func() (err error) {
		res, err = do()
		return err
	})
	if err != nil {
		return result{}, err
	}
	res.ServerCPU = cpu
	return res, nil
}

// pause lets the machine settle between runs (sockets in TIME_WAIT, the
// previous generator's exit).
func pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Second):
		return nil
	}
}
