package benchkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// GenSlack is how long a load generator may run beyond its configured
// duration before it is killed (start-up, a graceful stop, the last
// requests' timeouts, writing its report).
const GenSlack = 30 * time.Second

// GenProc is how a load generator process ran: its output and what the
// kernel accounted to it.
type GenProc struct {
	Stdout, Stderr []byte
	ExitCode       int
	Wall           time.Duration
	// CPU is the user + system CPU time of the process (rusage, µs
	// resolution): everything it did from exec to exit.
	CPU time.Duration
	// MaxRSS is ru_maxrss at exit. On Linux it is not the process's own
	// peak: exec records the high-water mark of the memory it replaces,
	// and os/exec's child shares this (the benchmark's) memory until exec,
	// so MaxRSS is at least the benchmark's own RSS at the spawn (a 2 MiB
	// "true" started by a process holding 100 MiB reports 102 MiB).
	MaxRSS int64
	// LastHWM is the last VmHWM read from /proc/<pid>/status while the
	// process ran (every 100 ms, and at each sample): the process's own
	// peak resident set since exec, short of at most its last 100 ms.
	// This is the peak to report. PeakRSS is the largest VmRSS sampled (0
	// without sampling).
	LastHWM, PeakRSS int64
	// Samples are the VmRSS readings, one per sampling interval.
	Samples []RSSSample
}

// RSSSample is one VmRSS reading of a running process.
type RSSSample struct {
	At  time.Duration // since the start
	RSS int64         // bytes
}

// RSSAt is the last sample taken at or before at; false when none was
// or the process did not live that long.
func (g GenProc) RSSAt(at time.Duration) (int64, bool) {
	if g.Wall < at {
		return 0, false
	}
	var v int64
	ok := false
	for _, s := range g.Samples {
		if s.At > at {
			break
		}
		v, ok = s.RSS, true
	}
	return v, ok
}

// Output is stderr and stdout, trimmed to their last 2 KiB, for error
// messages.
func (g GenProc) Output() string {
	s := strings.TrimSpace(string(g.Stderr) + "\n" + string(g.Stdout))
	if len(s) > logTail {
		s = "..." + s[len(s)-logTail:]
	}
	return s
}

// ExitError is nil for a process that exited with status 0, and
// otherwise says which status and what the process printed.
func (g GenProc) ExitError() error {
	if g.ExitCode == 0 {
		return nil
	}
	return fmt.Errorf("exit status %d: %s", g.ExitCode, g.Output())
}

// hwmEvery is how often RunGenerator reads a generator's VmHWM.
const hwmEvery = 100 * time.Millisecond

// RunGenerator runs one load generator to completion in its own process
// group, killing the group if ctx ends or the run takes longer than
// timeout. With sample > 0 it reads the process's memory from /proc every
// sample while it runs. A non-zero exit status is not an error here: the
// caller decides (flagstorm exits 1 when a threshold fails; see
// [GenProc.ExitError]).
func RunGenerator(ctx context.Context, path string, args, env []string, timeout, sample time.Duration) (GenProc, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.SysProcAttr = childAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return GenProc{}, fmt.Errorf("start %s: %w", path, err)
	}
	var g GenProc
	var sampler sync.WaitGroup
	stop := make(chan struct{})
	pid := cmd.Process.Pid
	sampler.Go(func() {
		// VmHWM every hwmEvery (it only grows: the last read is the
		// peak so far); VmRSS into Samples every sample.
		tick := time.NewTicker(min(hwmEvery, max(sample, time.Millisecond)))
		defer tick.Stop()
		nextSample := time.Duration(0)
		for {
			// A failed read is a process that has just exited: its zombie
			// has no memory lines.
			if m, err := readMemStatus(pid); err == nil {
				g.LastHWM = max(g.LastHWM, m.HWM)
				if at := time.Since(start); sample > 0 && at >= nextSample {
					g.PeakRSS = max(g.PeakRSS, m.RSS)
					g.Samples = append(g.Samples, RSSSample{At: at, RSS: m.RSS})
					nextSample = at + sample - sample/10 // a tick early is the same sample
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	err := cmd.Wait()
	close(stop)
	sampler.Wait()
	g.Wall = time.Since(start)
	g.Stdout, g.Stderr = stdout.Bytes(), stderr.Bytes()
	if ps := cmd.ProcessState; ps != nil {
		g.ExitCode = ps.ExitCode()
		g.CPU = ps.UserTime() + ps.SystemTime()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			g.MaxRSS = maxRSSBytes(ru)
		}
	}
	if ctx.Err() != nil {
		return g, fmt.Errorf("%s stopped: %w", path, context.Cause(ctx))
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return g, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}
