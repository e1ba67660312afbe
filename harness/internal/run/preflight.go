package run

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/preflight"
)

// PreflightError is a target that does not meet the contract, or whose
// traffic does not cross the proxies: the run stops before any load. The
// CLI exits 4 (could not evaluate) and prints the report.
type PreflightError struct {
	Target string
	Report preflight.Report
}

func (e *PreflightError) Error() string {
	var items []string
	for _, p := range e.Report.Problems {
		items = append(items, p.Item)
	}
	return fmt.Sprintf("preflight: %s does not meet the target contract (%s); nothing was run:\n%s", e.Target, strings.Join(items, ", "), e.Report)
}

// uses says which endpoints of the contract the plan's requests use.
func (p *Plan) uses() preflight.Uses {
	var u preflight.Uses
	for _, r := range p.Spec.Requests {
		path, _, _ := strings.Cut(r.Path, "?")
		switch {
		case r.Method == "PATCH" && strings.HasPrefix(path, "/api/config/flags/"):
			u.Patch = true
		case r.Method == "GET" && path == "/api/config/flags":
			u.List = true
		case r.Method == "GET" && strings.HasPrefix(path, "/api/config/flags/"):
			u.Get = true
		}
	}
	return u
}

// preflightTarget is what the preflight checks of a started system.
func preflightTarget(p *Plan, sys *System) preflight.Target {
	spec := p.Spec
	t := preflight.Target{
		URL: sys.URLs[0], AdminToken: sys.AdminToken, Ready: sys.Ready,
		Field: sys.Oracle.Name, Nonce: sys.Oracle.Nonce, Uses: p.uses(),
		Faults: sys.Faults, RedisProxy: sys.RedisProxy, PostgresProxy: sys.PostgresProxy,
	}
	if len(spec.Data.Environments) > 0 {
		t.Environment = spec.Data.Environments[0]
	}
	for i := range min(spec.Data.Flags.Len(), 8) {
		t.Flags = append(t.Flags, spec.Data.Flags.At(i))
	}
	if len(t.Flags) > 0 {
		t.Flag = t.Flags[0]
	}
	switch {
	case sys.Primary != nil:
		t.RedisAddr, t.RedisPassword = sys.Primary.Addr(), sys.Primary.Password()
	case len(sys.RedisAddrs) > 0:
		t.RedisAddr, t.RedisPassword = sys.RedisAddrs[0], sys.RedisPassword
	}
	return t
}

// Preflight checks a started system against the contract: readiness, the
// endpoints and fields the plan uses, auth, a write read back, and that
// its Redis and PostgreSQL traffic crosses the proxies. A system started
// with deferred instances (a cold start) is not checked: nothing listens
// yet.
func Preflight(ctx context.Context, p *Plan, target string, sys *System) (preflight.Report, error) {
	if sys.StartDeferred != nil || sys.Ready == "" {
		return preflight.Report{}, nil
	}
	rep, err := preflight.Check(ctx, preflightTarget(p, sys))
	if err != nil {
		return rep, fmt.Errorf("preflight: %w", err)
	}
	if !rep.OK() {
		return rep, &PreflightError{Target: target, Report: rep}
	}
	if err := settle(ctx, p, sys); err != nil {
		return rep, err
	}
	return rep, nil
}

// settle waits until every instance answers a run of reads after the
// preflight's faults: those closed the instances' pooled connections, and
// the first request on each broken one would fail in the run, counted
// against the target.
func settle(ctx context.Context, p *Plan, sys *System) error {
	spec := p.Spec
	if len(spec.Data.Environments) == 0 {
		return nil
	}
	path := "/api/config/flags?environment=" + url.QueryEscape(spec.Data.Environments[0])
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for _, base := range sys.URLs {
		for ok := 0; ok < settleReads; {
			if time.Now().After(deadline) {
				return fmt.Errorf("preflight: %s did not answer %d reads in a row within 15 s of the preflight's faults", base, settleReads)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
			res, err := client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			if err == nil && res.StatusCode == http.StatusOK {
				ok++
				continue
			}
			ok = 0
			time.Sleep(50 * time.Millisecond) // a bounded retry pace, not synchronization
		}
	}
	return nil
}

// settleReads is how many reads in a row each instance must answer after
// the preflight (more than a pool's connections: each broken one fails
// once).
const settleReads = 40
