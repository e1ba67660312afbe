package benchkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

func TestRunGenerator(t *testing.T) {
	t.Run("exit status and accounting", func(t *testing.T) {
		needProc(t)
		g, err := RunGenerator(t.Context(), "/bin/sh", []string{"-c", "echo out; echo err >&2; sleep 0.3; exit 3"}, nil, time.Minute, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if g.ExitCode != 3 || strings.TrimSpace(string(g.Stdout)) != "out" || strings.TrimSpace(string(g.Stderr)) != "err" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 3, out, err", g.ExitCode, g.Stdout, g.Stderr)
		}
		if g.MaxRSS <= 0 || g.Wall <= 0 {
			t.Errorf("MaxRSS %d, Wall %v: want a peak RSS and a wall time", g.MaxRSS, g.Wall)
		}
		// The first sample is taken as soon as the process has started.
		if len(g.Samples) == 0 || g.PeakRSS <= 0 || g.LastHWM < g.Samples[0].RSS {
			t.Errorf("samples %v, peak %d, last VmHWM %d: want /proc readings while it ran", g.Samples, g.PeakRSS, g.LastHWM)
		}
		if err := g.ExitError(); err == nil || err.Error() != "exit status 3: err\n\nout" {
			t.Errorf("ExitError = %v, want the status and the output", err)
		}
	})
	t.Run("own peak, not the benchmark's", func(t *testing.T) {
		needProc(t)
		// This process holds 64 MiB when it starts a small shell: the
		// shell's ru_maxrss includes them (exec records the memory it
		// replaces, which was this process's), its VmHWM does not.
		held := make([]byte, 64<<20)
		for i := range held {
			held[i] = 1
		}
		g, err := RunGenerator(t.Context(), "/bin/sh", []string{"-c", "sleep 0.4"}, nil, time.Minute, 0)
		if err != nil {
			t.Fatal(err)
		}
		if g.LastHWM <= 0 || g.LastHWM >= 32<<20 {
			t.Errorf("LastHWM %d MiB: want the shell's own few MiB", g.LastHWM>>20)
		}
		if runtime.GOOS == "linux" && g.MaxRSS < 64<<20 {
			t.Logf("ru_maxrss %d MiB: this kernel no longer carries the parent's peak across exec", g.MaxRSS>>20)
		}
		if len(g.Samples) != 0 {
			t.Errorf("%d VmRSS samples without a sampling interval", len(g.Samples))
		}
		runtime.KeepAlive(held)
	})
	t.Run("timeout kills the process group", func(t *testing.T) {
		needProc(t)
		pidFile := filepath.Join(t.TempDir(), "pid")
		// The shell forks a sleep that would outlive it if only the shell
		// were killed.
		_, err := RunGenerator(t.Context(), "/bin/sh", []string{"-c", "sleep 30 & echo $! > " + pidFile + "; wait"}, nil, 300*time.Millisecond, 0)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the run stopped at its deadline", err)
		}
		b, rerr := os.ReadFile(pidFile)
		if rerr != nil {
			t.Fatal(rerr)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		testenv.Poll(t, 5*time.Second, fmt.Sprintf("the shell's child %d dies with its group", pid), func() error {
			if syscall.Kill(pid, 0) != nil {
				return nil
			}
			// A killed child of the shell lingers as a zombie until init
			// reaps it; its state says so.
			if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); strings.Contains(string(st), ") Z ") {
				return nil
			}
			return errors.New("it is still running")
		})
	})
	t.Run("no such program", func(t *testing.T) {
		_, err := RunGenerator(t.Context(), filepath.Join(t.TempDir(), "missing"), nil, nil, time.Minute, 0)
		if err == nil || !strings.HasPrefix(err.Error(), "start ") {
			t.Errorf("err = %v, want a start error", err)
		}
	})
}

func TestGenProcOutput(t *testing.T) {
	g := GenProc{Stdout: []byte("out\n"), Stderr: []byte("  err\n")}
	if got := g.Output(); got != "err\n\nout" {
		t.Errorf("Output() = %q", got)
	}
	if err := g.ExitError(); err != nil {
		t.Errorf("ExitError of status 0 = %v, want nil", err)
	}
	long := GenProc{Stdout: []byte(strings.Repeat("x", 3*logTail) + "end")}
	if got := long.Output(); len(got) != logTail+3 || !strings.HasPrefix(got, "...") || !strings.HasSuffix(got, "end") {
		t.Errorf("Output() of a long output: %d bytes, want the last %d after ...", len(got), logTail)
	}
}

func TestRSSAt(t *testing.T) {
	g := GenProc{Wall: 90 * time.Second, Samples: []RSSSample{{time.Second, 10}, {59 * time.Second, 20}, {61 * time.Second, 30}}}
	tests := []struct {
		at     time.Duration
		want   int64
		wantOK bool
	}{
		{time.Minute, 20, true},
		{61 * time.Second, 30, true},
		{500 * time.Millisecond, 0, false}, // before the first sample
		{2 * time.Minute, 0, false},        // after the end
	}
	for _, tt := range tests {
		if v, ok := g.RSSAt(tt.at); v != tt.want || ok != tt.wantOK {
			t.Errorf("RSSAt(%v) = %d, %v; want %d, %v", tt.at, v, ok, tt.want, tt.wantOK)
		}
	}
}
