package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	// warmRequests are sent to each endpoint before it is measured, from
	// warmWorkers concurrent clients.
	warmRequests = 400
	warmWorkers  = 8
)

// prober makes the benchmark's own HTTP requests: readiness, warm-up and
// the endpoint checks. Nothing it does overlaps a measured run.
type prober struct {
	client *http.Client
}

func newProber() *prober {
	return &prober{client: &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: warmWorkers},
	}}
}

func (p *prober) close() { p.client.CloseIdleConnections() }

// get fetches url and returns its status, headers and body.
func (p *prober) get(ctx context.Context, url string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read %s: %w", url, err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// ready is a readiness check: url answers 200.
func (p *prober) ready(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		status, _, _, err := p.get(ctx, url)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", url, status)
		}
		return nil
	}
}

// check fetches url once and wants a 200 whose body contains want; it
// returns the X-Flag-Source header ("" when absent).
func (p *prober) check(ctx context.Context, url, want string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	status, h, body, err := p.get(ctx, url)
	if err != nil {
		return "", fmt.Errorf("check %s: %w", url, err)
	}
	if status != http.StatusOK || !strings.Contains(string(body), want) {
		return "", fmt.Errorf("check %s: want 200 with %q in the body, got %d %q", url, want, status, body)
	}
	return h.Get("X-Flag-Source"), nil
}

// warmUp sends warmRequests GETs to url: connections, caches and the
// server's goroutines exist before anything is measured.
func (p *prober) warmUp(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, warmWorkers)
	for w := range warmWorkers {
		wg.Go(func() {
			for range warmRequests / warmWorkers {
				status, _, _, err := p.get(ctx, url)
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("status %d", status)
				}
				if err != nil {
					errs[w] = fmt.Errorf("warm up %s: %w", url, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
