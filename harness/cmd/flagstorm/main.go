// Command flagstorm is the load-testing and resilience harness: it starts
// the stack, drives load, injects faults, checks answers against the
// database's truth and judges thresholds. "flagstorm help" lists its
// commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/flagstorm/flagstorm/harness/internal/cli"
)

func main() {
	for _, k := range cli.UnknownEnv(os.Environ()) {
		fmt.Fprintf(os.Stderr, "flagstorm: warning: %s names no flag of any command (FLAGSTORM_<FLAG>, e.g. FLAGSTORM_TARGET_URL); ignored\n", k)
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals()...)
	go func() {
		// After the first signal, the next one has its default effect: a
		// second Ctrl-C kills at once (the kernel then kills the children,
		// and the next start removes what they left).
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// stopSignals are the signals that stop flagstorm cleanly (faults
// removed, children reaped, run directory removed): Ctrl-C, kill, a closed
// terminal and Ctrl-\. SIGHUP is left alone when it is ignored (nohup).
func stopSignals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}
