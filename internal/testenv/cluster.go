package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/flagstorm/flagstorm/internal/pgcluster"
)

const (
	// clusterPrefix starts the name of every throwaway cluster's directory
	// in os.TempDir; the creating process's pid follows, so that a later run
	// can remove clusters whose test binary died without running Main.
	clusterPrefix = "flagstorm-testenv-pg-"
	// clusterCmdTimeout bounds starting the cluster (initdb, then the
	// server) and stopping it.
	clusterCmdTimeout = time.Minute
)

// cluster is a throwaway PostgreSQL cluster (internal/pgcluster): data,
// socket and log live under dir; it listens on 127.0.0.1:port.
type cluster struct {
	pc    *pgcluster.Cluster
	dir   string
	port  int
	runAs string // OS user the server runs as; "" for the current user
}

// tw is the throwaway cluster of this test binary, started at most once.
var tw struct {
	mu      sync.Mutex
	tried   bool
	cluster *cluster
	server  *pgServer
	err     error
}

// throwawayServer starts the throwaway cluster on first use and returns it
// as a server; later calls return the same server or the same error.
func throwawayServer() (*pgServer, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.tried {
		return tw.server, tw.err
	}
	tw.tried = true
	if !inMain.Load() {
		tw.err = errors.New("it is started only when the tests run under testenv.Main, which removes it afterwards: " +
			"add `func TestMain(m *testing.M) { testenv.Main(m) }` to the package's tests")
		return nil, tw.err
	}
	c, err := startCluster()
	if err != nil {
		tw.err = err
		return nil, err
	}
	srv, err := newPGServer(fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port),
		"throwaway cluster in "+c.dir)
	if err == nil {
		err = probe(srv, pgOpTimeout)
	}
	if err != nil {
		tw.err = errors.Join(fmt.Errorf("throwaway cluster in %s: %w", c.dir, err), c.stop())
		return nil, tw.err
	}
	tw.cluster, tw.server = c, srv
	return srv, nil
}

// stopThrowaway stops and removes the throwaway cluster, if one runs.
func stopThrowaway() error {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	c := tw.cluster
	if c == nil {
		return nil
	}
	tw.cluster, tw.server = nil, nil
	tw.err = errors.New("the throwaway cluster was stopped")
	return c.stop()
}

// startCluster removes the clusters of test binaries that died before Main
// could remove them, then initializes a cluster in a new directory and
// starts it on a free port. The server dies with the test binary.
func startCluster() (*cluster, error) {
	if err := pgcluster.Available(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*clusterCmdTimeout)
	defer cancel()
	pgcluster.RemoveStale(ctx, clusterPrefix)

	dir, err := os.MkdirTemp("", clusterPrefix+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	pc, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir})
	if err != nil {
		return nil, err // Start removed dir
	}
	return &cluster{pc: pc, dir: pc.Dir(), port: pc.Port(), runAs: pc.RunAs()}, nil
}

// stop stops the server at once and removes the cluster's directory.
func (c *cluster) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterCmdTimeout)
	defer cancel()
	return c.pc.Stop(ctx)
}
