package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// check fetches url once and wants a 200 whose body contains want; it
// returns the X-Flag-Source header ("" when absent).
func check(ctx context.Context, pr *benchkit.Prober, url, want string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	status, h, body, err := pr.Get(ctx, url)
	if err != nil {
		return "", fmt.Errorf("check %s: %w", url, err)
	}
	if status != http.StatusOK || !strings.Contains(string(body), want) {
		return "", fmt.Errorf("check %s: want 200 with %q in the body, got %d %q", url, want, status, body)
	}
	return h.Get("X-Flag-Source"), nil
}
