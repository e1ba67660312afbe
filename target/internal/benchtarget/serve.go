package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// referenceBody is what both reference handlers answer: a flag-shaped JSON
// document of about the size flagserver returns for one flag.
const referenceBody = `{"key":"flag-007","environment":"production","enabled":true,"rolloutPercentage":42,` +
	`"description":"Reference body of the benchmark, about one flag long.","version":1,"updatedAt":"2025-01-01T00:00:00Z"}`

// referenceKey is the Redis key the redis-get handler reads.
const referenceKey = "benchtarget:reference"

// Reference handler modes (the hidden -serve flag).
const (
	modeHello    = "hello"
	modeRedisGet = "redis-get"
)

// shutdownTimeout bounds a reference server's graceful shutdown.
const shutdownTimeout = 5 * time.Second

// serve is the hidden "-serve hello|redis-get -addr A [-redis R]" mode: the
// benchmark re-executes itself in it so that each reference handler runs
// as its own process, like flagserver. It serves until ctx is cancelled
// (SIGTERM from the parent).
func serve(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchtarget -serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("serve", "", "reference handler: hello or redis-get")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	redisAddr := fs.String("redis", "", "Redis address host:port (redis-get)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := runReference(ctx, *mode, *addr, *redisAddr); err != nil {
		fmt.Fprintf(stderr, "benchtarget -serve %s: %v\n", *mode, err)
		return 1
	}
	return 0
}

func runReference(ctx context.Context, mode, addr, redisAddr string) error {
	mux := http.NewServeMux()
	var ready http.HandlerFunc
	switch mode {
	case modeHello:
		mux.HandleFunc("GET /", hello)
		ready = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }
	case modeRedisGet:
		if redisAddr == "" {
			return errors.New("-redis is required")
		}
		// Default client options, on purpose: this is the baseline of
		// "one go-redis GET per request".
		rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer rdb.Close()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := rdb.Set(sctx, referenceKey, referenceBody, 0).Err()
		cancel()
		if err != nil {
			return fmt.Errorf("set %s: %w", referenceKey, err)
		}
		mux.Handle("GET /", redisGet{rdb: rdb})
		ready = func(w http.ResponseWriter, r *http.Request) {
			if err := rdb.Ping(r.Context()).Err(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		}
	default:
		return fmt.Errorf("unknown mode %q (want %s or %s)", mode, modeHello, modeRedisGet)
	}
	mux.HandleFunc("GET /readyz", ready)

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
	_, _ = io.WriteString(w, referenceBody)
}

// redisGet writes the value of one GET of referenceKey: net/http plus one
// Redis round trip.
type redisGet struct {
	rdb *redis.Client
}

func (h redisGet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := h.rdb.Get(r.Context(), referenceKey).Bytes()
	if err != nil {
		http.Error(w, "redis get failed", http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
