package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunGenerator(t *testing.T) {
	t.Run("exit status and accounting", func(t *testing.T) {
		g, err := runGenerator(t.Context(), "/bin/sh", []string{"-c", "echo out; echo err >&2; sleep 0.3; exit 3"}, nil, 10*time.Second, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if g.exitCode != 3 || strings.TrimSpace(string(g.stdout)) != "out" || strings.TrimSpace(string(g.stderr)) != "err" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 3, out, err", g.exitCode, g.stdout, g.stderr)
		}
		if g.maxRSS <= 0 || g.wall < 300*time.Millisecond {
			t.Errorf("maxRSS %d, wall %v: want a peak RSS and at least 300 ms", g.maxRSS, g.wall)
		}
		if len(g.samples) == 0 || g.peakRSS <= 0 || g.lastHWM < g.samples[0].rss {
			t.Errorf("samples %v, peak %d, last VmHWM %d: want /proc readings while it ran", g.samples, g.peakRSS, g.lastHWM)
		}
	})
	t.Run("timeout kills the process group", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "pid")
		start := time.Now()
		// The shell forks a sleep that would outlive it if only the shell
		// were killed.
		_, err := runGenerator(t.Context(), "/bin/sh", []string{"-c", "sleep 30 & echo $! > " + pidFile + "; wait"}, nil, 300*time.Millisecond, 0)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the run stopped at its deadline", err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("took %v to stop", took)
		}
		b, rerr := os.ReadFile(pidFile)
		if rerr != nil {
			t.Fatal(rerr)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(pid, 0) == nil {
			// A killed child of the shell lingers as a zombie until init
			// reaps it; its state says so.
			if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); strings.Contains(string(st), ") Z ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the shell's child %d survived its group's kill", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
