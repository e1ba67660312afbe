package toxics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"
)

// FailoverSpec describes a Redis failover behind a proxy.
type FailoverSpec struct {
	// Proxy is the proxy clients reach the primary through, like "redis".
	// It must forward to Primary when the failover starts.
	Proxy string
	// Primary is the primary to crash.
	Primary *RedisServer
	// Replica is the replica of Primary to promote.
	Replica *RedisServer
	// Rejoin restarts the old primary, empty, as a replica of the new one
	// once the proxy has moved, and waits until it is in sync.
	Rejoin bool
	// ReplicaProxy, with Rejoin, is a proxy (like "redis-replica") to move
	// to the rejoined old primary, so that it leads to a replica again.
	// "" leaves every other proxy alone.
	ReplicaProxy string
}

// FailoverReport says when each step of a failover finished. A step that
// did not happen has the zero time.
type FailoverReport struct {
	Proxy      string
	OldPrimary string // address of the crashed primary
	NewPrimary string // address of the promoted replica
	Started    time.Time
	Killed     time.Time // the old primary is dead and its port closed
	Promoted   time.Time // the replica reports role:master
	Switched   time.Time // the proxy forwards to the new primary
	Rejoined   time.Time // the old primary is a replica of the new one, in sync
}

// Outage is how long the proxy led nowhere useful: from the start of the
// failover until the proxy forwarded to the new primary. Clients see
// errors or retries for at most this long. Zero if the switch did not
// happen.
func (r FailoverReport) Outage() time.Duration {
	if r.Switched.IsZero() {
		return 0
	}
	return r.Switched.Sub(r.Started)
}

// Failover performs an unplanned Redis failover, the way a managed service
// (ElastiCache, a Sentinel setup) does it when a primary dies:
//
//  1. the primary crashes: SIGKILL, its data is lost, and Toxiproxy closes
//     every connection that went through the proxy to it, so clients see
//     EOF or connection resets and new connections through the proxy are
//     closed at once;
//  2. the replica is promoted (REPLICAOF NO ONE) and Failover waits until
//     it reports role:master;
//  3. only then the proxy's upstream moves to it, the "DNS flip":
//     Toxiproxy closes the proxy's connections and clients reconnect to
//     the new primary. Moving before promoting would let writes reach a
//     read-only replica (READONLY errors);
//  4. with Rejoin, the old primary restarts empty as a replica of the new
//     one, and ReplicaProxy, if set, moves to it.
//
// Crashing rather than disabling the primary's traffic makes the failover
// unambiguous: the old primary cannot take writes that the new one never
// sees (no split brain), and writes it acknowledged but had not yet
// replicated are lost, as in a real crash.
//
// Everything is checked before the primary is touched: the proxy must
// forward to Primary and Replica must be its replica. On an error in a
// later step the report says how far it got; [Session.Cleanup] completes
// or repairs a failover started through the session.
func Failover(ctx context.Context, c Controller, spec FailoverSpec) (FailoverReport, error) {
	if err := checkFailover(ctx, c, spec); err != nil {
		return FailoverReport{}, fmt.Errorf("toxics: failover of proxy %q: %w", spec.Proxy, err)
	}
	rep := FailoverReport{
		Proxy:      spec.Proxy,
		OldPrimary: spec.Primary.Addr(),
		NewPrimary: spec.Replica.Addr(),
		Started:    time.Now(),
	}
	fail := func(step string, err error) (FailoverReport, error) {
		return rep, fmt.Errorf("toxics: failover of proxy %q: %s: %w", spec.Proxy, step, err)
	}
	if err := spec.Primary.Kill(ctx); err != nil {
		return fail("crash the primary", err)
	}
	rep.Killed = time.Now()
	if err := spec.Replica.Promote(ctx); err != nil {
		return fail("promote the replica", err)
	}
	rep.Promoted = time.Now()
	if err := c.SetUpstream(ctx, spec.Proxy, spec.Replica.Addr()); err != nil {
		return fail("move the proxy", err)
	}
	rep.Switched = time.Now()
	if !spec.Rejoin {
		return rep, nil
	}
	if err := spec.Primary.restartAsReplicaOf(ctx, spec.Replica.Addr()); err != nil {
		return fail("rejoin the old primary", err)
	}
	rep.Rejoined = time.Now()
	if spec.ReplicaProxy != "" {
		if err := c.SetUpstream(ctx, spec.ReplicaProxy, spec.Primary.Addr()); err != nil {
			return fail("move the replica proxy", err)
		}
	}
	return rep, nil
}

// checkFailover validates the spec against the live topology.
func checkFailover(ctx context.Context, c Controller, spec FailoverSpec) error {
	var errs []error
	if spec.Proxy == "" {
		errs = append(errs, errors.New("missing proxy"))
	}
	if spec.Primary == nil {
		errs = append(errs, errors.New("missing primary"))
	}
	if spec.Replica == nil {
		errs = append(errs, errors.New("missing replica"))
	}
	if spec.ReplicaProxy != "" && !spec.Rejoin {
		errs = append(errs, errors.New("a replica proxy needs Rejoin: without it there is no replica to lead to"))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if spec.Primary == spec.Replica || spec.Primary.Addr() == spec.Replica.Addr() {
		return errors.New("the primary and the replica are the same server")
	}

	proxies, err := c.Proxies(ctx)
	if err != nil {
		return err
	}
	find := func(name string) (ProxyInfo, error) {
		i := slices.IndexFunc(proxies, func(p ProxyInfo) bool { return p.Name == name })
		if i < 0 {
			return ProxyInfo{}, fmt.Errorf("proxy %q: %w", name, ErrProxyNotFound)
		}
		return proxies[i], nil
	}
	p, err := find(spec.Proxy)
	if err != nil {
		return err
	}
	if p.Upstream != spec.Primary.Addr() {
		return fmt.Errorf("the proxy forwards to %s, not to the primary %s", p.Upstream, spec.Primary.Addr())
	}
	if spec.ReplicaProxy != "" {
		if _, err := find(spec.ReplicaProxy); err != nil {
			return err
		}
	}

	info, err := spec.Replica.Info(ctx, "replication") // with its password, if any
	if err != nil {
		return fmt.Errorf("ask the replica %s for its role: %w", spec.Replica.Addr(), err)
	}
	if role := infoField(info, "role"); role != "slave" {
		return fmt.Errorf("the replica %s is not a replica (role:%s)", spec.Replica.Addr(), role)
	}
	master := net.JoinHostPort(infoField(info, "master_host"), infoField(info, "master_port"))
	if master != spec.Primary.Addr() {
		return fmt.Errorf("the replica %s replicates from %s, not from the primary %s", spec.Replica.Addr(), master, spec.Primary.Addr())
	}
	return nil
}
