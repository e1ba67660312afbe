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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
