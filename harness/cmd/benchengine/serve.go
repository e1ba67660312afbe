package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// serve is the hidden "-serve -addr A" mode: the benchmark re-executes
// itself in it so that the hello server runs as its own process, like
// flagserver. It serves until ctx is cancelled (SIGTERM from the parent).
func serve(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchengine -serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("serve", true, "serve the hello handler")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := benchkit.Serve(ctx, *addr, benchkit.HelloMux()); err != nil {
		fmt.Fprintf(stderr, "benchengine -serve: %v\n", err)
		return 1
	}
	return 0
}
