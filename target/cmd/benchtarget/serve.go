package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
	"github.com/redis/go-redis/v9"
)

// referenceKey is the Redis key the redis-get handler reads.
const referenceKey = "benchtarget:reference"

// Reference handler modes (the hidden -serve flag).
const (
	modeHello    = "hello"
	modeRedisGet = "redis-get"
)

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

// runReference serves one reference handler; both answer
// benchkit.HelloBody.
func runReference(ctx context.Context, mode, addr, redisAddr string) error {
	switch mode {
	case modeHello:
		return benchkit.Serve(ctx, addr, benchkit.HelloMux())
	case modeRedisGet:
		if redisAddr == "" {
			return errors.New("-redis is required")
		}
		// Default client options, on purpose: this is the baseline of
		// "one go-redis GET per request".
		rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer rdb.Close()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := rdb.Set(sctx, referenceKey, benchkit.HelloBody, 0).Err()
		cancel()
		if err != nil {
			return fmt.Errorf("set %s: %w", referenceKey, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /", redisGet{rdb: rdb})
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
			if err := rdb.Ping(r.Context()).Err(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		return benchkit.Serve(ctx, addr, mux)
	default:
		return fmt.Errorf("unknown mode %q (want %s or %s)", mode, modeHello, modeRedisGet)
	}
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
