package toxics

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

// writeLoad runs INCR and GET through a client without pause until
// stopped, counting what it sees.
type writeLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	acks       int   // acknowledged INCRs
	maxAcked   int64 // the highest value an INCR returned
	lost       int   // INCRs that returned a value already acknowledged: writes the crash lost
	writeErrs  int
	readErrs   int
	readonly   int // READONLY errors among writeErrs
	firstErr   time.Time
	lastErr    time.Time
	errSamples []string
}

func startWriteLoad(c *redis.Client) *writeLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &writeLoad{cancel: cancel}
	l.wg.Go(func() {
		for ctx.Err() == nil {
			v, err := c.Incr(ctx, "counter").Result()
			if ctx.Err() != nil {
				return
			}
			l.mu.Lock()
			if err != nil {
				l.writeErrs++
				if strings.HasPrefix(err.Error(), "READONLY") {
					l.readonly++
				}
				l.noteErr(err)
			} else {
				l.acks++
				if v <= l.maxAcked {
					l.lost++
				}
				l.maxAcked = max(l.maxAcked, v)
			}
			l.mu.Unlock()

			if err := c.Get(ctx, "counter").Err(); err != nil && ctx.Err() == nil {
				l.mu.Lock()
				l.readErrs++
				l.noteErr(err)
				l.mu.Unlock()
			}
		}
	})
	return l
}

// noteErr records an error's time and a few messages; l.mu is held.
func (l *writeLoad) noteErr(err error) {
	now := time.Now()
	if l.firstErr.IsZero() {
		l.firstErr = now
	}
	l.lastErr = now
	if len(l.errSamples) < 5 {
		l.errSamples = append(l.errSamples, err.Error())
	}
}

func (l *writeLoad) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acks
}

func (l *writeLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

// TestFailoverUnderLoad fails a primary over to its replica while a
// client writes and reads through the proxy, and checks that writes land
// on the new primary with hardly an error.
func TestFailoverUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	primary := startRedis(t, RedisConfig{})
	replica := startRedis(t, RedisConfig{ReplicaOf: primary.Addr()})
	e := newEmbedded(t, EmbeddedConfig{})
	p := addProxy(t, e, "redis", primary.Addr())
	addProxy(t, e, "redis-replica", replica.Addr())
	client := newClient(t, redis.Options{
		Addr:        p.Listen,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
		PoolSize: 4,
	})
	s := NewSession(e, slog.New(slog.NewTextHandler(t.Output(), nil)))
	t.Cleanup(func() {
		if err := s.Cleanup(context.Background()); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	})

	load := startWriteLoad(client)
	defer load.stop()
	testenv.Poll(t, 10*time.Second, "writes before the failover", func() error {
		if n := load.acked(); n < 100 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	rep, err := s.Failover(ctx, FailoverSpec{Proxy: "redis", Primary: primary, Replica: replica, Rejoin: true, ReplicaProxy: "redis-replica"})
	if err != nil {
		t.Fatalf("Failover: %v", err)
	}
	atSwitch := load.acked()
	testenv.Poll(t, 10*time.Second, "writes after the failover", func() error {
		if n := load.acked(); n < atSwitch+100 {
			return fmt.Errorf("%d acknowledged since the switch", n-atSwitch)
		}
		return nil
	})
	load.stop()

	load.mu.Lock()
	defer load.mu.Unlock()
	t.Logf("failover: killed +%v, promoted +%v, switched +%v (outage %v), rejoined +%v",
		rep.Killed.Sub(rep.Started), rep.Promoted.Sub(rep.Started), rep.Switched.Sub(rep.Started), rep.Outage(), rep.Rejoined.Sub(rep.Started))
	errWindow := time.Duration(0)
	if !load.firstErr.IsZero() {
		errWindow = load.lastErr.Sub(load.firstErr)
	}
	t.Logf("client: %d writes acknowledged (max %d), %d write errors (%d READONLY), %d read errors over %v, %d acknowledged writes lost; errors: %q",
		load.acks, load.maxAcked, load.writeErrs, load.readonly, load.readErrs, errWindow, load.lost, load.errSamples)

	if role, err := redisRole(ctx, replica.Addr()); err != nil || role != "master" {
		t.Errorf("the promoted replica's role: %q, %v; want master", role, err)
	}
	v, err := redisDo(ctx, replica.Addr(), "GET", "counter")
	got, _ := strconv.ParseInt(fmt.Sprint(v), 10, 64)
	if err != nil || got < load.maxAcked {
		t.Errorf("counter on the new primary = %v (%v), want >= the last acknowledged %d", v, err, load.maxAcked)
	}
	if load.writeErrs+load.readErrs > 3 {
		t.Errorf("%d write and %d read errors during the failover, want at most 3", load.writeErrs, load.readErrs)
	}
	// Replication is asynchronous: a write acknowledged just before the
	// crash may not have reached the replica. More than a few means the
	// replica was not receiving the stream.
	if load.lost > 3 {
		t.Errorf("%d acknowledged writes lost in the failover, want at most 3", load.lost)
	}
	if load.readonly > 0 {
		t.Errorf("%d READONLY errors: writes reached a replica", load.readonly)
	}
	// The old primary rejoined as a replica of the new one, and the
	// replica proxy leads to it.
	info, err := redisInfo(ctx, primary.Addr(), "replication")
	if err != nil || infoField(info, "role") != "slave" || infoField(info, "master_port") != strconv.Itoa(replica.Port()) {
		t.Errorf("the old primary: role %q of port %q (%v), want a replica of %s",
			infoField(info, "role"), infoField(info, "master_port"), err, replica.Addr())
	}
	if got := proxyNamed(t, e, "redis").Upstream; got != replica.Addr() {
		t.Errorf("proxy redis leads to %s, want the new primary %s", got, replica.Addr())
	}
	if got := proxyNamed(t, e, "redis-replica").Upstream; got != primary.Addr() {
		t.Errorf("proxy redis-replica leads to %s, want the new replica %s", got, primary.Addr())
	}
}

// TestFailoverChecks checks that a failover that does not fit the topology
// is refused before anything is killed, and that a session completes a
// failover without rejoin on Cleanup.
func TestFailoverChecks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	primary := startRedis(t, RedisConfig{})
	replica := startRedis(t, RedisConfig{ReplicaOf: primary.Addr()})
	stranger := startRedis(t, RedisConfig{})
	e := newEmbedded(t, EmbeddedConfig{})
	addProxy(t, e, "redis", primary.Addr())

	tests := []struct {
		name string
		spec FailoverSpec
		msg  string
	}{
		{"empty", FailoverSpec{}, "missing proxy"},
		{"unknown proxy", FailoverSpec{Proxy: "nope", Primary: primary, Replica: replica}, "proxy not found"},
		{"proxy leads elsewhere", FailoverSpec{Proxy: "redis", Primary: stranger, Replica: replica}, "not to the primary"},
		{"not a replica", FailoverSpec{Proxy: "redis", Primary: primary, Replica: stranger}, "is not a replica"},
		{"same server", FailoverSpec{Proxy: "redis", Primary: primary, Replica: primary}, "the same server"},
		{"replica proxy without rejoin", FailoverSpec{Proxy: "redis", Primary: primary, Replica: replica, ReplicaProxy: "redis"}, "needs Rejoin"},
	}
	for _, tt := range tests {
		rep, err := Failover(ctx, e, tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: Failover error = %v, want one containing %q", tt.name, err, tt.msg)
		}
		if !rep.Started.IsZero() {
			t.Errorf("%s: the failover started", tt.name)
		}
	}
	for _, r := range []*RedisServer{primary, replica, stranger} {
		if !r.Running() {
			t.Fatalf("a refused failover stopped %s", r.Addr())
		}
	}

	// Through a session, without rejoin: Cleanup restarts the old primary
	// as a replica of the new one and leaves the proxy where it is.
	s := NewSession(e, nil)
	rep, err := s.Failover(ctx, FailoverSpec{Proxy: "redis", Primary: primary, Replica: replica})
	if err != nil {
		t.Fatalf("Failover: %v", err)
	}
	if primary.Running() || !rep.Rejoined.IsZero() {
		t.Fatalf("without Rejoin the old primary is running (%v) or rejoined (%v)", primary.Running(), rep.Rejoined)
	}
	if err := s.Cleanup(ctx); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if got := primary.ReplicaOf(); !primary.Running() || got != replica.Addr() {
		t.Errorf("after Cleanup the old primary runs %v as a replica of %q, want of %s", primary.Running(), got, replica.Addr())
	}
	if got := proxyNamed(t, e, "redis").Upstream; got != replica.Addr() {
		t.Errorf("after Cleanup proxy redis leads to %s, want the new primary %s", got, replica.Addr())
	}
}

// TestFailoverWithPassword fails over servers that require a password
// (the stack's: requirepass, and masterauth for the replica): the checks,
// the promotion and the rejoin all authenticate, a client that has the
// password keeps its data, and a client without it is refused by both.
func TestFailoverWithPassword(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const pass = "failover-secret-0123"
	primary := startRedis(t, RedisConfig{Password: pass})
	replica := startRedis(t, RedisConfig{Password: pass, ReplicaOf: primary.Addr()})
	e := newEmbedded(t, EmbeddedConfig{})
	p := addProxy(t, e, "redis", primary.Addr())
	addProxy(t, e, "redis-replica", replica.Addr())
	client := newClient(t, redis.Options{Addr: p.Listen, Password: pass, MaxRetries: -1})
	if err := client.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatalf("SET with the password: %v", err)
	}
	// The write must reach the replica before the primary dies.
	if _, err := primary.Do(ctx, "WAIT", "1", "2000"); err != nil {
		t.Fatalf("WAIT: %v", err)
	}

	rep, err := Failover(ctx, e, FailoverSpec{Proxy: "redis", Primary: primary, Replica: replica, Rejoin: true, ReplicaProxy: "redis-replica"})
	if err != nil {
		t.Fatalf("Failover: %v", err)
	}
	if rep.Rejoined.IsZero() {
		t.Fatalf("the old primary did not rejoin: %+v", rep)
	}
	testenv.Poll(t, 5*time.Second, "a read through the proxy from the new primary", func() error {
		v, err := client.Get(ctx, "k").Result()
		if err != nil || v != "before" {
			return fmt.Errorf("GET k = %q, %v", v, err)
		}
		return nil
	})
	for _, s := range []struct {
		srv  *RedisServer
		role string
	}{{replica, "master"}, {primary, "slave"}} {
		info, err := s.srv.Info(ctx, "replication")
		if err != nil || infoField(info, "role") != s.role {
			t.Errorf("%s: role %q (%v), want %s", s.srv.Addr(), infoField(info, "role"), err, s.role)
		}
		if s.role == "slave" && infoField(info, "master_link_status") != "up" {
			t.Errorf("%s: replication link %q, want up (masterauth)", s.srv.Addr(), infoField(info, "master_link_status"))
		}
		if _, err := redisDo(ctx, s.srv.Addr(), "PING"); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Errorf("%s: PING without the password = %v, want NOAUTH", s.srv.Addr(), err)
		}
	}
}
