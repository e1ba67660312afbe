package toxics

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flagstorm/flagstorm/internal/redisproc"
)

// The process manager is tested in internal/redisproc; these check that
// the toxics names forward to it.

func TestStartRedis(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	primary := startRedis(t, RedisConfig{})
	replica := startRedis(t, RedisConfig{ReplicaOf: primary.Addr()})
	if err := replica.Promote(ctx); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	if err := primary.Kill(ctx); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := primary.restartAsReplicaOf(ctx, replica.Addr()); err != nil {
		t.Fatalf("restartAsReplicaOf: %v", err)
	}
	if role, err := redisRole(ctx, primary.Addr()); err != nil || role != "slave" || primary.ReplicaOf() != replica.Addr() {
		t.Errorf("after restartAsReplicaOf: role %q (%v), ReplicaOf %q; want a replica of %s", role, err, primary.ReplicaOf(), replica.Addr())
	}
	if err := primary.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := primary.Restart(ctx); !errors.Is(err, ErrRedisStopped) {
		t.Errorf("Restart after Stop: %v, want ErrRedisStopped", err)
	}
}

// TestRedisNotFound changes PATH, so it cannot run in parallel.
func TestRedisNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := StartRedis(t.Context(), RedisConfig{})
	if !errors.Is(err, ErrRedisNotFound) {
		t.Fatalf("StartRedis without redis-server: %v, want ErrRedisNotFound", err)
	}
	const want = "install it with apt-get install -y redis-server"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// redisDo sends one command to addr; see [redisproc.Do].
func redisDo(ctx context.Context, addr string, args ...string) (any, error) {
	return redisproc.Do(ctx, addr, args...)
}

// redisRole returns "master" or "slave" from INFO replication.
func redisRole(ctx context.Context, addr string) (string, error) {
	info, err := redisInfo(ctx, addr, "replication")
	if err != nil {
		return "", err
	}
	return infoField(info, "role"), nil
}
