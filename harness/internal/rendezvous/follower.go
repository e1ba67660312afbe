package rendezvous

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Backoff between attempts to reach a leader that does not answer yet
// (not started, still binding): from minPause, doubling, up to maxPause.
const (
	minPause = 50 * time.Millisecond
	maxPause = time.Second
)

// follow measures the clock, joins and waits for the start.
func (r *Runner) follow(ctx context.Context) (Start, error) {
	cfg := r.cfg
	wctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	c := &http.Client{Timeout: pollHold + 10*time.Second}
	defer c.CloseIdleConnections()
	f := &follower{r: r, c: c, base: "http://" + cfg.Addr, pause: minPause}
	st, err := f.run(wctx)
	switch {
	case err == nil:
		return st, nil
	case ctx.Err() != nil:
		return Start{}, ctx.Err()
	case wctx.Err() != nil:
		return Start{}, &MissingError{Leader: cfg.Addr, Segments: f.missing, LeaderSegment: cfg.Segments[0], Waited: cfg.Timeout, Err: f.lastErr}
	}
	return Start{}, err
}

// follower is one follower's conversation with the leader.
type follower struct {
	r       *Runner
	c       *http.Client
	base    string
	pause   time.Duration
	lastErr error    // the last failure to talk to the leader
	missing []string // the segments the leader last said were missing
	runners int
}

// run returns an error of its own (refused, aborted, late), or wctx's
// when it ends first.
func (f *follower) run(ctx context.Context) (Start, error) {
	cfg := f.r.cfg
	var samples []Sample
	for len(samples) < cfg.Exchanges {
		s, err := f.exchange(ctx)
		if err != nil {
			if err := f.retry(ctx, err); err != nil {
				return Start{}, err
			}
			continue
		}
		samples = append(samples, s)
	}
	skew, err := Estimate(samples)
	if err != nil {
		return Start{}, err
	}
	f.r.log.Info("rendezvous: clock measured", "offset", skew.Offset, "uncertainty", skew.Uncertainty, "exchanges", skew.Exchanges)
	req := joinRequest{
		ID: f.r.id, Segment: cfg.Segment, Segments: cfg.Segments, Scenario: cfg.Scenario,
		Offset: int64(skew.Offset), Uncertainty: int64(skew.Uncertainty), RTT: int64(skew.RTT), Exchanges: skew.Exchanges,
	}
	joined := false
	for {
		if !joined {
			status, a, err := f.call(ctx, http.MethodPost, "/v1/join", req)
			switch {
			case err != nil:
				if err := f.retry(ctx, err); err != nil {
					return Start{}, err
				}
				continue
			case status == http.StatusConflict:
				return Start{}, &RefusedError{Leader: cfg.Addr, Reason: a.Error}
			case status == http.StatusGone:
				return Start{}, &AbortedError{Leader: cfg.Addr, Reason: a.Error}
			case status != http.StatusOK:
				if err := f.retry(ctx, fmt.Errorf("POST /v1/join: %d %s", status, a.Error)); err != nil {
					return Start{}, err
				}
				continue
			}
			joined, f.missing, f.runners, f.pause = true, a.Missing, a.Runners, minPause
			f.r.log.Info("rendezvous: joined", "leader", cfg.Addr, "missing", a.Missing)
		}
		status, a, err := f.call(ctx, http.MethodGet, "/v1/start?id="+url.QueryEscape(f.r.id), nil)
		switch {
		case err != nil:
			if err := f.retry(ctx, err); err != nil {
				return Start{}, err
			}
		case status == http.StatusOK:
			return f.started(skew, a)
		case status == http.StatusAccepted:
			f.missing, f.pause = a.Missing, minPause
		case status == http.StatusGone:
			return Start{}, &AbortedError{Leader: cfg.Addr, Reason: a.Error}
		case status == http.StatusNotFound:
			// The leader does not know this runner (restarted since the
			// join): join again.
			joined = false
		default:
			if err := f.retry(ctx, fmt.Errorf("GET /v1/start: %d %s", status, a.Error)); err != nil {
				return Start{}, err
			}
		}
	}
}

// started converts the leader's start to this runner's clock.
func (f *follower) started(skew Skew, a answer) (Start, error) {
	cfg := f.r.cfg
	leaderAt := time.Unix(0, a.Start)
	now := time.Now()
	at := skew.Local(leaderAt, now)
	if late := now.Sub(at); late > 0 {
		return Start{}, fmt.Errorf("rendezvous at %s: the shared start (%s UTC on the leader's clock) had passed %s before this runner learned it: the run started without it",
			cfg.Addr, leaderAt.UTC().Format("15:04:05.000"), late.Round(time.Microsecond))
	}
	return Start{At: at, Leader: leaderAt, Segment: cfg.Segment, Runners: a.Runners, Addr: cfg.Addr, Skew: skew, Margin: time.Duration(a.Margin)}, nil
}

// retry records err and waits before the next attempt; it returns ctx's
// error when ctx ends first.
func (f *follower) retry(ctx context.Context, err error) error {
	f.lastErr = err
	t := time.NewTimer(f.pause)
	defer t.Stop()
	f.pause = min(2*f.pause, maxPause)
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// exchange is one clock exchange.
func (f *follower) exchange(ctx context.Context) (Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/v1/clock", nil)
	if err != nil {
		return Sample{}, err
	}
	sent := time.Now()
	resp, err := f.c.Do(req)
	if err != nil {
		return Sample{}, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	received := time.Now()
	resp.Body.Close()
	if err != nil {
		return Sample{}, err
	}
	var a answer
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &a) != nil || a.Now == 0 {
		return Sample{}, fmt.Errorf("%w: GET /v1/clock: %s %.200q", errStatus, resp.Status, body)
	}
	return Sample{Sent: sent, Leader: time.Unix(0, a.Now), Received: received}, nil
}

// call sends a request with a JSON body (nil: none) and decodes the
// answer; err is a failure to talk to the leader at all.
func (f *follower) call(ctx context.Context, method, path string, in any) (int, answer, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, answer{}, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.base+path, body)
	if err != nil {
		return 0, answer{}, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.c.Do(req)
	if err != nil {
		return 0, answer{}, err
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&a); err != nil {
		return 0, answer{}, fmt.Errorf("%w: %s %s: %s, body not JSON: %v", errStatus, method, path, resp.Status, err)
	}
	return resp.StatusCode, a, nil
}
