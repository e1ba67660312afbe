package benchkit

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

const (
	// warmRequests are sent to each URL before it is measured, from
	// warmWorkers concurrent clients, within warmTimeout.
	warmRequests = 400
	warmWorkers  = 8
	warmTimeout  = 30 * time.Second
)

// Prober makes a benchmark's own HTTP requests: readiness, warm-up,
// checks of what an endpoint answers and metric scrapes. Nothing it does
// should overlap a measured run.
type Prober struct {
	client *http.Client
}

// NewProber returns a Prober with a 5 s timeout per request, no proxy and
// as many idle connections per host as warm-up workers.
func NewProber() *Prober {
	return &Prober{client: &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: warmWorkers},
	}}
}

// Close closes the idle connections.
func (p *Prober) Close() { p.client.CloseIdleConnections() }

// Get fetches url and returns its status, headers and body.
func (p *Prober) Get(ctx context.Context, url string) (int, http.Header, []byte, error) {
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

// Ready is a readiness check for [Proc.WaitReady]: url answers 200.
func (p *Prober) Ready(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		status, _, _, err := p.Get(ctx, url)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", url, status)
		}
		return nil
	}
}

// WarmUp sends 400 GETs to url from 8 clients, so that connections,
// caches and the server's goroutines exist before anything is measured.
// The first request that fails or is not answered with 200 stops the
// others and is the error.
func (p *Prober) WarmUp(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, warmTimeout)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range warmWorkers {
		wg.Go(func() {
			for range warmRequests / warmWorkers {
				status, _, _, err := p.Get(ctx, url)
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("status %d", status)
				}
				if err != nil {
					once.Do(func() {
						first = fmt.Errorf("warm up %s: %w", url, err)
						cancel()
					})
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
