package benchkit

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// HelloBody is what the hello reference server answers: a flag-shaped
// JSON document of about the size flagserver returns for one flag.
const HelloBody = `{"key":"flag-007","environment":"production","enabled":true,"rolloutPercentage":42,` +
	`"description":"Reference body of the benchmark, about one flag long.","version":1,"updatedAt":"2025-01-01T00:00:00Z"}`

// shutdownTimeout bounds a reference server's graceful shutdown.
const shutdownTimeout = 5 * time.Second

// Hello writes HelloBody: the cost of net/http alone.
func Hello(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, HelloBody)
}

// HelloMux serves Hello on GET / and answers GET /readyz with 200.
func HelloMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", Hello)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return mux
}

// Serve serves h on addr, with flagserver's server timeouts, until ctx is
// cancelled (SIGTERM from the parent), then shuts down gracefully.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The same timeouts as flagserver's server.
	srv := &http.Server{
		Handler:           h,
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
