package stack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/pgcluster"
	"github.com/flagstorm/flagstorm/internal/testenv"
)

// Issue 12, finding 4: on a shared host, another local user must reach
// none of the stack's backends. These tests start `flagstorm stack` as
// it ships (its defaults) and probe it as user nobody.

// nobody returns the credential of user nobody (group nogroup), skipping
// the test unless it runs as root (only root can act as another user).
func nobody(t *testing.T) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("probing the stack as user nobody needs root (to setuid)")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if g, err := user.LookupGroup("nogroup"); err == nil {
		gid, _ = strconv.Atoi(g.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
}

// asNobody runs name args as user nobody with a minimal environment (no
// PGPASSWORD, no password file, no home) and returns its combined output
// and error; it is killed after 10 s.
func asNobody(t *testing.T, cred *syscall.Credential, env []string, name string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "PGPASSFILE=/dev/null", "PGCONNECT_TIMEOUT=5"}, env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startStackCommand runs `flagstorm stack --json` with a throwaway
// PostgreSQL cluster plus args, and returns the process and its endpoints
// with the JSON line as printed.
func startStackCommand(t *testing.T, env []string, args ...string) (*stackProc, stackJSON, string) {
	t.Helper()
	if err := pgcluster.Available(); err != nil {
		t.Skipf("no PostgreSQL server binaries: %v", err)
	}
	flagserver := testenv.BuildFlagserver(t)
	p := runFlagstorm(t, env, append([]string{"--json", "--flagserver-bin", flagserver, "--database", "throwaway", "--seed-flags", "5"}, args...)...)
	line := p.line(t, 90*time.Second)
	var out stackJSON
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		t.Fatalf("decode the JSON endpoints: %v\n%s", err, line)
	}
	return p, out, line
}

// stop stops the stack with SIGTERM and waits for exit 0.
func (p *stackProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr)
	}
}

// listeningPorts returns the TCP ports process pid listens on (IPv4 and
// IPv6), from its socket descriptors and /proc/net/tcp{,6}.
func listeningPorts(t *testing.T, pid int) []int {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("no /proc/%d/fd: %v", pid, err)
	}
	for _, fd := range fds {
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Scan() // header
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			// sl local_address rem_address st ... inode (field 9)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			pb, err := hex.DecodeString(hexPort)
			if err != nil || len(pb) != 2 {
				continue
			}
			ports = append(ports, int(pb[0])<<8|int(pb[1]))
		}
	}
	return ports
}

// TestNobodyReachesNothing starts `flagstorm stack` with its defaults and
// checks, as user nobody, that Redis (primary, replica, the proxy) asks
// for a password, that PostgreSQL (directly and through the proxy)
// refuses a client without one, that no port of flagstorm's own serves
// the Toxiproxy API, and that the run directory and the files holding the
// secrets are closed to nobody.
func TestNobodyReachesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("initdb takes about a second")
	}
	t.Parallel()
	cred := nobody(t)
	p, out, _ := startStackCommand(t, nil)
	defer p.stop(t)

	// Redis: the servers and the proxy in front of the primary.
	for _, addr := range []string{out.RedisPrimary, out.RedisReplica, out.Proxies[ProxyRedis], out.Proxies[ProxyRedisReplica]} {
		host, port, _ := net.SplitHostPort(addr)
		got, _ := asNobody(t, cred, nil, "redis-cli", "-h", host, "-p", port, "PING")
		if !strings.Contains(got, "NOAUTH") || strings.Contains(got, "PONG") {
			t.Errorf("redis-cli -p %s PING as nobody answered %q, want NOAUTH", port, strings.TrimSpace(got))
		}
		got, _ = asNobody(t, cred, nil, "redis-cli", "-h", host, "-p", port, "SET", "feature_flags:production:flag-001", "{}")
		if strings.Contains(got, "OK") {
			t.Errorf("redis-cli -p %s SET as nobody answered %q", port, strings.TrimSpace(got))
		}
	}

	// PostgreSQL: directly (the URL's address) and through the proxy.
	u, err := url.Parse(out.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{u.Host, out.Proxies[ProxyPostgres]} {
		host, port, _ := net.SplitHostPort(addr)
		got, err := asNobody(t, cred, nil, "psql", "-w", "-h", host, "-p", port, "-U", "postgres", "-d", pgDatabase, "-c", "select 1")
		if err == nil {
			t.Errorf("psql -p %s as nobody, without a password, connected:\n%s", port, got)
		} else if !strings.Contains(got, "password") {
			t.Errorf("psql -p %s as nobody failed, but not for lack of a password: %v\n%s", port, err, got)
		}
	}

	// The Toxiproxy API: off. No port flagstorm itself listens on (the
	// proxies and, with --toxiproxy-api, the API) answers its GET /proxies.
	ports := listeningPorts(t, p.cmd.Process.Pid)
	if len(ports) < 3 {
		t.Fatalf("flagstorm listens on %v, want at least the three proxies", ports)
	}
	for _, port := range ports {
		got, err := asNobody(t, cred, nil, "curl", "-sS", "--max-time", "2", "-o", "-", "-w", "\nHTTP %{http_code}", fmt.Sprintf("http://127.0.0.1:%d/proxies", port))
		if err == nil && strings.Contains(got, "HTTP 200") {
			t.Errorf("port %d of flagstorm answers the Toxiproxy API to nobody:\n%s", port, got)
		}
	}
	if out.ToxiproxyAPI != "" {
		t.Errorf("the Toxiproxy API is served by default at %s", out.ToxiproxyAPI)
	}

	// The run directory and the secret files: the owner's alone.
	for _, path := range []string{out.Dir, out.DatabaseURLFile, out.RedisPasswordFile, out.AdminTokenFile} {
		if path == "" {
			t.Errorf("a secret file is missing from the endpoints: %+v", out.Endpoints)
			continue
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group and others", path, st.Mode().Perm())
		}
	}
	for _, path := range []string{out.DatabaseURLFile, out.RedisPasswordFile, out.AdminTokenFile, filepath.Join(out.Dir, "flagserver-0.log")} {
		if got, err := asNobody(t, cred, nil, "cat", path); err == nil {
			t.Errorf("nobody can read %s:\n%s", path, got)
		}
	}
}

// TestNoSecretInArgvLogsOrReports starts `flagstorm stack` with the
// admin token in a file, drives a short run against its flagserver with
// the token from FLAGSTORM_ADMIN_TOKEN_FILE, and checks that neither the
// admin token, nor the Redis password, nor the database password appears
// in the command line of any process, in the logs (the run directory,
// PostgreSQL's, flagstorm's stderr), in `stack --json`, or in the run's
// reports and output.
func TestNoSecretInArgvLogsOrReports(t *testing.T) {
	if testing.Short() {
		t.Skip("initdb takes about a second, and a run takes two")
	}
	t.Parallel()
	tokenFile := filepath.Join(t.TempDir(), "token")
	token := "tok-" + randomHex(12)
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, out, jsonLine := startStackCommand(t, nil, "--admin-token-file", tokenFile, "--log-level", "debug")
	secrets := map[string]string{"admin token": token}
	for what, f := range map[string]string{"Redis password": out.RedisPasswordFile, "database URL": out.DatabaseURLFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("%s file: %v", what, err)
		}
		secrets[what] = strings.TrimSpace(string(b))
	}
	dbURL, err := url.Parse(secrets["database URL"])
	if err != nil {
		t.Fatal(err)
	}
	delete(secrets, "database URL")
	secrets["database password"], _ = dbURL.User.Password()
	if b, _ := os.ReadFile(out.AdminTokenFile); strings.TrimSpace(string(b)) != token {
		t.Errorf("the stack's admin token file holds %q, want the token given", b)
	}
	for what, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("%s %q: too short to look for", what, s)
		}
	}
	var leaks []string
	look := func(where string, text []byte) {
		for what, s := range secrets {
			if bytes.Contains(text, []byte(s)) {
				leaks = append(leaks, what+" in "+where)
			}
		}
	}

	// The flagserver answers writes with the token from the file.
	status := patchFlag(t, out.TargetURLs[0], token)
	if status != 200 {
		t.Fatalf("PATCH with the token from the file = %d, want 200", status)
	}

	// A run against the stack's flagserver, the token from a file named in
	// the environment.
	scenario := filepath.Join(t.TempDir(), "short.yaml")
	if err := os.WriteFile(scenario, []byte(`name: short
description: a short run with writes
load: {executor: constant-vus, vus: 2, duration: 1s}
data:
  environments: [production]
  flags: {prefix: flag-, count: 5, pad: 3}
requests:
  - {name: get,    weight: 3, method: GET,   path: "/api/config/flags/{{flag}}?environment={{env}}"}
  - {name: update, weight: 1, method: PATCH, path: "/api/config/flags/{{flag}}?environment={{env}}", body: '{"enabled": {{bool}}}'}
thresholds:
  "http_req_failed{name:update}": ["rate==0"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	reports := t.TempDir()
	run := exec.Command(testenv.BuildFlagstorm(t), "run", scenario, "--target-url", out.TargetURLs[0], "--out", reports, "--quiet", "--log-level", "debug")
	run.Env = append(os.Environ(), "FLAGSTORM_ADMIN_TOKEN_FILE="+tokenFile)
	runOut, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("flagstorm run: %v\n%s", err, runOut)
	}
	look("the run's output", runOut)
	if bytes.Contains(runOut, []byte("on the command line")) {
		t.Errorf("a warning about a secret in argv, none was given there:\n%s", runOut)
	}
	walk(t, reports, func(path string, b []byte) { look("the report "+path, b) })
	if n := countFiles(t, reports); n == 0 {
		t.Fatalf("the run wrote no report in %s", reports)
	}

	// Every process's command line, while the stack runs.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err == nil {
			cmdline := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
			for _, s := range secrets {
				cmdline = strings.ReplaceAll(cmdline, s, "xxxxx") // not in the test's output either
			}
			look(f+" ("+cmdline+")", b)
		}
	}
	// The children are among them.
	if len(out.Processes) != 4 {
		t.Errorf("processes %+v, want flagserver, two Redis and postgres", out.Processes)
	}

	// The logs and the rest of the run directory (but the files that are
	// there to hold the secrets, mode 0600), and PostgreSQL's log.
	keep := map[string]bool{out.AdminTokenFile: true, out.RedisPasswordFile: true, out.DatabaseURLFile: true,
		filepath.Join(out.Dir, "redis-primary", "redis.conf"): true, filepath.Join(out.Dir, "redis-replica", "redis.conf"): true}
	walk(t, out.Dir, func(path string, b []byte) {
		if !keep[path] {
			look(path, b)
		}
	})
	for _, proc := range out.Processes {
		if b, err := os.ReadFile(proc.Log); err == nil {
			look(proc.Log, b)
		}
	}
	look("stack --json", []byte(jsonLine))

	p.stop(t)
	look("flagstorm stack's stderr (debug)", p.stderr.Bytes())
	for _, l := range leaks {
		t.Error(l)
	}
}

// patchFlag PATCHes flag-001 in production with token and returns the
// status.
func patchFlag(t *testing.T, base, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, base+"/api/config/flags/flag-001?environment=production", strings.NewReader(`{"enabled": true}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("PATCH flag-001: %v", err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

// walk calls f with the content of every regular file under dir.
func walk(t *testing.T, dir string, f func(path string, b []byte)) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil {
			f(path, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	walk(t, dir, func(string, []byte) { n++ })
	return n
}
