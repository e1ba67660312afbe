package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/pgcluster"
	"github.com/flagstorm/flagstorm/internal/testenv"
)

// progressLine is the engine's progress line (every 5 s when stderr is not
// a terminal): the load has been running and recording.
var progressLine = regexp.MustCompile(`(?m)^\s*[0-9.]+s  phase \S+ .* req/s`)

// TestRunHangupWritesPartialReport runs `flagstorm run` on the local stack
// (a throwaway PostgreSQL cluster, two Redis servers, Toxiproxy in-process
// with a fault on, flagserver), sends SIGHUP (a closed terminal) while the
// load runs, and checks that it exits 130 with a partial report written in
// every format (partial, the reason, never a pass), and that nothing is
// left: no process of its tree, no temporary directory, no /dev/shm file
// and no SysV shared memory segment created by it.
func TestRunHangupWritesPartialReport(t *testing.T) {
	testenv.CatchHangup(t)
	if testing.Short() {
		t.Skip("starts the local stack with a throwaway PostgreSQL cluster")
	}
	if err := pgcluster.Available(); err != nil {
		t.Skipf("no PostgreSQL server binaries: %v", err)
	}
	flagserver := testenv.BuildFlagserver(t)
	// The child's temporary files (run directory, cluster) go to a
	// directory of this test's, which the postgres user can traverse.
	tmp, err := os.MkdirTemp("", "flagstorm-partial-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "partial.yaml")
	if err := os.WriteFile(file, []byte(`name: partial
description: interrupted mid-way
profile: hardened
load: {executor: constant-vus, vus: 3, duration: 60s}
requests:
  - {name: get,    weight: 9, method: GET,   path: "/api/config/flags/{{flag}}?environment={{env}}"}
  - {name: update, weight: 1, method: PATCH, path: "/api/config/flags/{{flag}}?environment={{env}}", body: '{"enabled": {{bool}}}'}
timeline:
  - {phase: steady, at: 0s}
  - {phase: slow,   at: 2s, fault: {proxy: redis, type: latency, latency: 5ms}}
thresholds:
  http_req_failed: ["rate<0.5"]
  stale_reads: ["count==0"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command(testenv.BuildFlagstorm(t), "run", file, "--flagserver-bin", flagserver, "--out", out)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
	})

	testenv.Poll(t, 120*time.Second, "the load running (a progress line)", func() error {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("flagstorm ended early: %v\n%s", err, stderr.String())
		default:
		}
		if !progressLine.MatchString(stderr.String()) {
			return fmt.Errorf("no progress line yet:\n%s", stderr.String())
		}
		return nil
	})
	tree := descendants(cmd.Process.Pid)
	if len(tree) < 4 { // redis x2, postgres, flagserver at least
		t.Fatalf("flagstorm's process tree is %v, want its stack's processes", tree)
	}
	shm := shmMapped(tree)
	before := sysvSegments(t, tree)
	if len(before) == 0 {
		t.Logf("no SysV segment created by the stack (PostgreSQL makes one; has it changed?)")
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
			t.Fatalf("exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", code, err, ExitInterrupted, stdout.String(), stderr.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("flagstorm did not stop after SIGHUP\n%s", stderr.String())
	}

	// The partial report, in every format.
	dir := reportDir(t, out)
	var sum struct {
		Flagstorm struct {
			Partial       bool   `json:"partial"`
			PartialReason string `json:"partialReason"`
			Verdict       string `json:"verdict"`
			ExitCode      int    `json:"exitCode"`
			Thresholds    []struct {
				Key      string   `json:"key"`
				Observed *float64 `json:"observed"`
			} `json:"thresholds"`
		} `json:"flagstorm"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	f := sum.Flagstorm
	reason := regexp.MustCompile(`^interrupted in phase (steady|slow) at t=[0-9.]+s of 1m0s planned \(hangup signal received\)$`)
	if !f.Partial || !reason.MatchString(f.PartialReason) || f.Verdict != "interrupted" || f.ExitCode != ExitInterrupted {
		t.Errorf("summary.json: partial=%v reason=%q verdict=%q exitCode=%d; want true, %v, interrupted, 130", f.Partial, f.PartialReason, f.Verdict, f.ExitCode, reason)
	}
	for _, th := range f.Thresholds {
		if th.Observed == nil {
			t.Errorf("threshold %s has no measured value in the partial report", th.Key)
		}
	}
	for name, want := range map[string]string{
		"junit.xml":   `<property name="partial" value="true">`,
		"report.html": "Partial report: " + f.PartialReason,
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", name, want)
		}
	}
	if !strings.Contains(stdout.String(), "INTERRUPTED after") || !strings.Contains(stdout.String(), "(partial report: "+f.PartialReason+")") {
		t.Errorf("the summary does not say the run was interrupted and the report partial:\n%s", stdout.String())
	}

	// Nothing left behind.
	testenv.Poll(t, 10*time.Second, "every process of flagstorm's tree gone", func() error {
		for _, pid := range tree {
			if running(pid) {
				return fmt.Errorf("pid %d (%s) still runs", pid, comm(pid))
			}
		}
		return nil
	})
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("left in its temporary directory: %v", names)
	}
	for _, f := range shm {
		if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s, mapped by the stack, remains (stat: %v)", f, err)
		}
	}
	if left := sysvSegments(t, tree); len(left) > 0 {
		t.Errorf("SysV shared memory segments created by the stack remain: %v (were %v)", left, before)
	}
}

// reportDir finds the directory under out holding summary.json.
func reportDir(t *testing.T, out string) string {
	t.Helper()
	var dirs []string
	_ = filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "summary.json" {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if len(dirs) != 1 {
		t.Fatalf("summary.json under %s: %v, want one", out, dirs)
	}
	return dirs[0]
}

// descendants returns the pids of every process below pid, now.
func descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := ppid(p); ok {
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// ppid reads a process's parent from /proc/PID/stat.
func ppid(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:])) // state ppid ...
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

// running reports whether pid is a live process (a zombie is not).
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && len(b) > i+2 && b[i+2] != 'Z'
}

func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// shmMapped lists the /dev/shm files the processes map.
func shmMapped(pids []int) []string {
	var out []string
	for _, pid := range pids {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.Index(line, "/dev/shm/"); i >= 0 {
				f := strings.TrimSuffix(strings.TrimSpace(line[i:]), " (deleted)")
				if !slices.Contains(out, f) {
					out = append(out, f)
				}
			}
		}
	}
	return out
}

// sysvSegments lists the SysV shared memory segments (by shmid) that one
// of the processes created, from /proc/sysvipc/shm.
func sysvSegments(t *testing.T, pids []int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		t.Skipf("no /proc/sysvipc/shm: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	head := strings.Fields(lines[0])
	idCol, cpidCol := slices.Index(head, "shmid"), slices.Index(head, "cpid")
	if idCol < 0 || cpidCol < 0 {
		t.Fatalf("/proc/sysvipc/shm has no shmid or cpid column: %q", lines[0])
	}
	var out []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= max(idCol, cpidCol) {
			continue
		}
		if cpid, err := strconv.Atoi(f[cpidCol]); err == nil && slices.Contains(pids, cpid) {
			out = append(out, f[idCol])
		}
	}
	return out
}
