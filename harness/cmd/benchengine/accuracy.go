package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flagstorm/flagstorm/toxics"
)

// accuracyProxy names the embedded Toxiproxy proxy in front of the hello
// server.
const accuracyProxy = "hello"

// toxicsTimeout bounds each Toxiproxy call and the cleanup.
const toxicsTimeout = 10 * time.Second

// accuracyResult is the accuracy part: flagstorm (and wrk, as a reference
// for the toxic itself) through the proxy, without and with the latency
// toxic.
type accuracyResult struct {
	latency, tolerance time.Duration
	vus                int
	duration           time.Duration
	// plain and toxic are flagstorm's runs without and with the toxic;
	// plainRef and toxicRef wrk's.
	plain, toxic       result
	plainRef, toxicRef result
}

// deviation is flagstorm's p50 with the toxic minus (latency + its p50
// without): what the engine adds to or takes from the injected latency.
func (a *accuracyResult) deviation() time.Duration { return a.toxic.P50 - (a.latency + a.plain.P50) }

// refDeviation is the same for wrk: how exactly the toxic itself delays.
func (a *accuracyResult) refDeviation() time.Duration {
	return a.toxicRef.P50 - (a.latency + a.plainRef.P50)
}

func (a *accuracyResult) pass() bool {
	d := a.deviation()
	return a.plain.Valid() && a.toxic.Valid() && d <= a.tolerance && d >= -a.tolerance
}

// runAccuracy puts an embedded Toxiproxy proxy in front of the hello
// server and runs flagstorm, then wrk, through it at low load without a
// fault, then again with a downstream latency toxic. The toxic is removed
// and the proxy closed on every exit path.
func runAccuracy(ctx context.Context, e *env) (res *accuracyResult, err error) {
	cfg := e.cfg
	emb, err := toxics.NewEmbedded(toxics.EmbeddedConfig{Timeout: toxicsTimeout})
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*toxicsTimeout)
		defer cancel()
		if cerr := emb.Close(cctx); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	info, err := emb.AddProxy(ctx, accuracyProxy, "127.0.0.1:0", e.hello.addr)
	if err != nil {
		return nil, err
	}
	proxied := &server{name: "hello via Toxiproxy", proc: e.hello.proc, addr: info.Listen}
	url := proxied.base() + "/"
	if err := e.pr.WarmUp(ctx, url); err != nil {
		return nil, err
	}
	if _, err := check(ctx, e.pr, url, `"key":"flag-007"`); err != nil {
		return nil, err
	}
	res = &accuracyResult{latency: cfg.Latency, tolerance: cfg.Tolerance, vus: cfg.AccuracyVUs, duration: cfg.AccuracyDuration}
	pair := func(state string) (result, result, error) {
		fs, err := measure(e.hello, func() (result, error) {
			return e.flagstorm.run(ctx, "accuracy-"+state, fmt.Sprintf("benchengine accuracy: %d VUs through Toxiproxy, %s", cfg.AccuracyVUs, state),
				loadShape{VUs: cfg.AccuracyVUs, Duration: cfg.AccuracyDuration}, proxied.base(), "/", 0)
		})
		if err != nil {
			return result{}, result{}, fmt.Errorf("flagstorm, %s: %w", state, err)
		}
		e.logf("accuracy %-6s flagstorm %s", state, fs)
		if err := pause(ctx); err != nil {
			return result{}, result{}, err
		}
		ref, err := measure(e.hello, func() (result, error) {
			return runWrk(ctx, e.wrk, 1, cfg.AccuracyVUs, cfg.AccuracyDuration, url)
		})
		if err != nil {
			return result{}, result{}, fmt.Errorf("wrk, %s: %w", state, err)
		}
		e.logf("accuracy %-6s wrk       %s", state, ref)
		return fs, ref, pause(ctx)
	}
	if res.plain, res.plainRef, err = pair("plain"); err != nil {
		return nil, err
	}

	applied, err := emb.Apply(ctx, toxics.Fault{Proxy: accuracyProxy, Kind: toxics.Latency, Latency: cfg.Latency})
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), toxicsTimeout)
		defer cancel()
		if rerr := emb.Remove(cctx, applied); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the latency toxic: %w", rerr))
		}
	}()
	// One request proves the toxic is in place before anything is timed.
	start := time.Now()
	if _, err := check(ctx, e.pr, url, `"key":"flag-007"`); err != nil {
		return nil, err
	}
	if took := time.Since(start); took < cfg.Latency {
		return nil, fmt.Errorf("a request through the proxy took %v after adding a %v latency toxic", took, cfg.Latency)
	}
	if res.toxic, res.toxicRef, err = pair("toxic"); err != nil {
		return nil, err
	}
	return res, nil
}
