// Package promproc runs a real Prometheus server (Debian's prometheus
// package) on a free loopback port, scraping the targets it is given every
// second, optionally with rule files: the dashboards' proof test and the
// canary gate's acceptance tests query it through its HTTP API exactly as
// Grafana, Argo Rollouts or Flagger would.
//
// Prometheus's discovery manager hands new targets to the scrape loop at
// most every 5 s, so the first scrape comes about 5–6 s after Start; use
// [Server.WaitScraped] rather than assuming data is there.
package promproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flagstorm/flagstorm/internal/freeport"
)

// ErrNotFound: there is no prometheus binary to run.
var ErrNotFound = errors.New("promproc: prometheus not found on PATH: install it with apt-get install -y prometheus")

// Target is one scrape target.
type Target struct {
	// Job is the job label; targets sharing a job are one scrape job.
	Job string
	// Addr is host:port on loopback; metrics are read from /metrics.
	Addr string
	// Labels are added to every series scraped from this target, like
	// {"track": "canary"}.
	Labels map[string]string
}

// Config is one Prometheus server.
type Config struct {
	Targets []Target
	// ScrapeInterval defaults to 1s; the evaluation interval is the same.
	ScrapeInterval time.Duration
	// RuleFiles are recording and alerting rule files to load.
	RuleFiles []string
	// Binary is the prometheus executable; "" looks it up on PATH.
	Binary string
}

// Server is a running Prometheus. Stop it when done.
type Server struct {
	cmd     *exec.Cmd
	done    chan struct{}
	dir     string
	addr    string
	logPath string
	targets []Target
}

const startTimeout = 20 * time.Second

// Start writes a configuration, starts Prometheus on 127.0.0.1 with its
// own temporary storage, and waits until /-/ready answers.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	bin := cfg.Binary
	if bin == "" {
		bin = "prometheus"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		if cfg.Binary == "" {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("%w (configured binary %q: %w)", ErrNotFound, cfg.Binary, err)
	}
	for _, t := range cfg.Targets {
		if err := checkLoopback(t.Addr); err != nil {
			return nil, fmt.Errorf("promproc: target %s: %w", t.Job, err)
		}
	}
	if cfg.ScrapeInterval <= 0 {
		cfg.ScrapeInterval = time.Second
	}
	dir, err := os.MkdirTemp("", "flagstorm-prometheus-*")
	if err != nil {
		return nil, fmt.Errorf("promproc: %w", err)
	}
	s := &Server{dir: dir, done: make(chan struct{}), logPath: filepath.Join(dir, "prometheus.log"), targets: cfg.Targets}
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(configYAML(cfg)), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("promproc: %w", err)
	}
	port, err := freeport.Loopback()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("promproc: %w", err)
	}
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logf, err := os.Create(s.logPath)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("promproc: %w", err)
	}
	s.cmd = exec.Command(path,
		"--config.file="+conf,
		"--web.listen-address="+s.addr,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--storage.tsdb.retention.time=1d",
		"--log.level=warn",
	)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = childAttr()
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("promproc: start prometheus: %w", err)
	}
	go func() { _ = s.cmd.Wait(); logf.Close(); close(s.done) }()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := s.poll(ctx, func() (bool, error) {
		resp, err := http.Get(s.URL() + "/-/ready")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("promproc: prometheus not ready (log %s): %w", s.logPath, err)
	}
	return s, nil
}

// URL is the server's base URL, like http://127.0.0.1:41234.
func (s *Server) URL() string { return "http://" + s.addr }

// LogPath is Prometheus's log file.
func (s *Server) LogPath() string { return s.logPath }

// Running reports whether the process is alive.
func (s *Server) Running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// WaitScraped waits until every target has been scraped successfully at
// least once (up == 1).
func (s *Server) WaitScraped(ctx context.Context) error {
	return s.poll(ctx, func() (bool, error) {
		for _, t := range s.targets {
			v, err := s.Query(ctx, fmt.Sprintf(`up{job=%q,instance=%q}`, t.Job, t.Addr))
			if err != nil {
				return false, nil
			}
			if len(v) != 1 || v[0].Value != 1 {
				return false, nil
			}
		}
		return true, nil
	})
}

// Sample is one element of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query runs an instant query now and returns the vector (a scalar comes
// back as one sample without labels). It exists for readiness checks and
// tests; production code uses client_golang's API.
func (s *Server) Query(ctx context.Context, q string) ([]Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("promproc: query %q: %w", q, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("promproc: query %q: %s", q, body.Error)
	}
	parse := func(pair []any) (float64, error) {
		if len(pair) != 2 {
			return 0, errors.New("malformed sample")
		}
		str, _ := pair[1].(string)
		return strconv.ParseFloat(str, 64)
	}
	switch body.Data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		if err := json.Unmarshal(body.Data.Result, &vec); err != nil {
			return nil, fmt.Errorf("promproc: query %q: %w", q, err)
		}
		out := make([]Sample, 0, len(vec))
		for _, e := range vec {
			v, err := parse(e.Value)
			if err != nil {
				return nil, fmt.Errorf("promproc: query %q: %w", q, err)
			}
			out = append(out, Sample{Labels: e.Metric, Value: v})
		}
		return out, nil
	case "scalar":
		var pair []any
		if err := json.Unmarshal(body.Data.Result, &pair); err != nil {
			return nil, fmt.Errorf("promproc: query %q: %w", q, err)
		}
		v, err := parse(pair)
		if err != nil {
			return nil, fmt.Errorf("promproc: query %q: %w", q, err)
		}
		return []Sample{{Value: v}}, nil
	}
	return nil, fmt.Errorf("promproc: query %q: result type %q not supported", q, body.Data.ResultType)
}

// Stop terminates Prometheus (SIGTERM, then SIGKILL after 5 s), waits for
// it and removes its storage. It is safe to call more than once.
func (s *Server) Stop() error {
	if s.Running() {
		_ = signalGroup(s.cmd, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = signalGroup(s.cmd, syscall.SIGKILL)
			<-s.done
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("promproc: remove %s: %w", s.dir, err)
	}
	return nil
}

func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

func (s *Server) poll(ctx context.Context, ok func() (bool, error)) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		done, err := ok()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return fmt.Errorf("prometheus exited (log %s)", s.logPath)
		case <-tick.C:
		}
	}
}

// configYAML renders prometheus.yml. Strings are written as JSON, which
// YAML reads as the same strings.
func configYAML(cfg Config) string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	iv := cfg.ScrapeInterval.String()
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n", iv, iv, iv)
	if len(cfg.RuleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range cfg.RuleFiles {
			fmt.Fprintf(&b, "  - %s\n", q(f))
		}
	}
	b.WriteString("scrape_configs:\n")
	jobs := map[string][]Target{}
	var order []string
	for _, t := range cfg.Targets {
		if _, ok := jobs[t.Job]; !ok {
			order = append(order, t.Job)
		}
		jobs[t.Job] = append(jobs[t.Job], t)
	}
	for _, job := range order {
		fmt.Fprintf(&b, "  - job_name: %s\n    static_configs:\n", q(job))
		for _, t := range jobs[job] {
			fmt.Fprintf(&b, "      - targets: [%s]\n", q(t.Addr))
			if len(t.Labels) > 0 {
				b.WriteString("        labels:\n")
				keys := make([]string, 0, len(t.Labels))
				for k := range t.Labels {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					fmt.Fprintf(&b, "          %s: %s\n", k, q(t.Labels[k]))
				}
			}
		}
	}
	return b.String()
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	return nil
}
