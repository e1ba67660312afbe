package main

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

// genSlack is how long a load generator may run beyond its configured
// duration before it is killed (start-up, gracefulStop, the last
// requests' timeouts, writing its report).
const genSlack = 30 * time.Second

// genProc is how a load generator process ran: its output and what the
// kernel accounted to it.
type genProc struct {
	stdout, stderr []byte
	exitCode       int
	wall           time.Duration
	// cpu is the user + system CPU time of the process (rusage, µs
	// resolution): everything it did from exec to exit.
	cpu time.Duration
	// maxRSS is the peak resident set size (ru_maxrss: the kernel's
	// high-water mark at exit, VmHWM).
	maxRSS int64
	// lastHWM is the last VmHWM read from /proc/<pid>/status while the
	// process ran, and peakRSS the largest VmRSS seen; 0 without sampling.
	lastHWM, peakRSS int64
	// samples are the VmRSS readings, one per sampling interval.
	samples []rssSample
}

// rssSample is one VmRSS reading of a running process.
type rssSample struct {
	at  time.Duration // since the start
	rss int64         // bytes
}

// rssAt is the last sample taken at or before at; false when none was
// or the process did not live that long.
func (g genProc) rssAt(at time.Duration) (int64, bool) {
	if g.wall < at {
		return 0, false
	}
	var v int64
	ok := false
	for _, s := range g.samples {
		if s.at > at {
			break
		}
		v, ok = s.rss, true
	}
	return v, ok
}

// output is stdout and stderr, trimmed, for error messages.
func (g genProc) output() string {
	s := strings.TrimSpace(string(g.stderr) + "\n" + string(g.stdout))
	if len(s) > logTail {
		s = "..." + s[len(s)-logTail:]
	}
	return s
}

// runGenerator runs one load generator to completion in its own process
// group, killing the group if ctx ends or the run takes longer than
// timeout. With sample > 0 it reads the process's memory from /proc every
// sample while it runs. A non-zero exit status is not an error here: the
// caller decides (flagstorm exits 1 when a threshold fails).
func runGenerator(ctx context.Context, path string, args, env []string, timeout, sample time.Duration) (genProc, error) {
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
		return genProc{}, fmt.Errorf("start %s: %w", path, err)
	}
	var g genProc
	var sampler sync.WaitGroup
	stop := make(chan struct{})
	if sample > 0 {
		pid := cmd.Process.Pid
		sampler.Go(func() {
			tick := time.NewTicker(sample)
			defer tick.Stop()
			for {
				// A failed read is a process that has just exited: its
				// zombie has no memory lines; ru_maxrss covers the end.
				if m, err := readMemStatus(pid); err == nil {
					g.lastHWM = m.HWM
					g.peakRSS = max(g.peakRSS, m.RSS)
					g.samples = append(g.samples, rssSample{at: time.Since(start), rss: m.RSS})
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		})
	}
	err := cmd.Wait()
	close(stop)
	sampler.Wait()
	g.wall = time.Since(start)
	g.stdout, g.stderr = stdout.Bytes(), stderr.Bytes()
	if ps := cmd.ProcessState; ps != nil {
		g.exitCode = ps.ExitCode()
		g.cpu = ps.UserTime() + ps.SystemTime()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			g.maxRSS = maxRSSBytes(ru)
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
