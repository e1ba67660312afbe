package toxics

import (
	"context"
	"time"

	"github.com/flagstorm/flagstorm/internal/redisproc"
)

// ErrRedisNotFound: there is no redis-server to run.
var ErrRedisNotFound = redisproc.ErrNotFound

// ErrRedisStopped: the RedisServer was stopped for good with Stop.
var ErrRedisStopped = redisproc.ErrStopped

// RedisConfig configures a [RedisServer]; see [redisproc.Config].
type RedisConfig = redisproc.Config

// RedisServer is a real redis-server process listening on 127.0.0.1 with
// persistence off, to crash, restart cold and fail over. It has the
// methods of [redisproc.Server] (Addr, Port, PID, Running, LogPath,
// ReplicaOf, Kill, Restart, Shutdown, Stop, Promote, ReplicateFrom). It is a
// struct rather than an alias so that [Failover] and [Session] can restart
// a crashed primary as a replica through an unexported method.
type RedisServer struct {
	*redisproc.Server
}

// StartRedis starts a redis-server and waits until it answers (and, for a
// replica, until it receives the primary's writes), polling until ctx ends
// or 10 s pass. The caller must Stop it. See [redisproc.Start].
func StartRedis(ctx context.Context, cfg RedisConfig) (*RedisServer, error) {
	srv, err := redisproc.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &RedisServer{Server: srv}, nil
}

// restartAsReplicaOf restarts the server, empty, as a replica of primary.
func (r *RedisServer) restartAsReplicaOf(ctx context.Context, primary string) error {
	return r.RestartAsReplicaOf(ctx, primary)
}

// pollInterval is how often a condition being waited for is checked.
const pollInterval = 5 * time.Millisecond

// sleepCtx waits for d or until ctx ends, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error { return redisproc.Sleep(ctx, d) }

// redisInfo returns the text of INFO section from the server at addr.
func redisInfo(ctx context.Context, addr, section string) (string, error) {
	return redisproc.Info(ctx, addr, section)
}

// infoField returns the value of "name:value" in INFO output, or "".
func infoField(info, name string) string { return redisproc.InfoField(info, name) }
