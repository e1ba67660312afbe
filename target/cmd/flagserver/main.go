// Command flagserver is the reference feature-flag server: the system
// under test of flagstorm, and an example of a Redis cache in front of a
// database done carefully. Run "flagserver help" for usage; the README
// documents the API, the configuration and the two cache profiles.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/flagstorm/flagstorm/target/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
