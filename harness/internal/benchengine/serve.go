package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// helloBody is what the hello server answers: a flag-shaped JSON document
// of about the size flagserver returns for one flag (benchtarget's
// reference body).
const helloBody = `{"key":"flag-007","environment":"production","enabled":true,"rolloutPercentage":42,` +
	`"description":"Reference body of the benchmark, about one flag long.","version":1,"updatedAt":"2025-01-01T00:00:00Z"}`

// shutdownTimeout bounds the hello server's graceful shutdown.
const shutdownTimeout = 5 * time.Second

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
	if err := runHello(ctx, *addr); err != nil {
		fmt.Fprintf(stderr, "benchengine -serve: %v\n", err)
		return 1
	}
	return 0
}

func runHello(ctx context.Context, addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", hello)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The same timeouts as flagserver's server.
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-served // http.ErrServerClosed once Shutdown has begun
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// hello writes the fixed body: the cost of net/http alone.
func hello(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, helloBody)
}
