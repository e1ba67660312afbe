package flags

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store keeps flags in PostgreSQL, table flags (see seed.sql).
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a store for the database at url. It does not connect:
// the first query does, so a service starts while its database is down.
func NewStore(url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 { // none in the URL: do not hang on a blackholed database
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	// Up to 20 connections, not pgx's default max(4, CPUs), unless the URL
	// says (pool_max_conns). While Redis is down every read comes here, and
	// when PostgreSQL is slow each query holds its connection longer: with 4,
	// reads queued for a connection (redis-blackhole, redis-outage,
	// postgres-slow: p99 over 100-150 ms). flagserver's hardened profile
	// measured the same (scenarios/SUITE.md, postgres-slow).
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = 20
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close closes every connection.
func (s *Store) Close() { s.pool.Close() }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

const columns = `flag_key, env, enabled, rollout, description`

func scanFlag(row pgx.Row) (Flag, error) {
	var f Flag
	err := row.Scan(&f.Key, &f.Environment, &f.Enabled, &f.RolloutPercentage, &f.Description)
	return f, err
}

// List returns every flag of env, sorted by key (empty if env has none).
func (s *Store) List(ctx context.Context, env string) ([]Flag, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM flags WHERE env = $1 ORDER BY flag_key`, env)
	if err != nil {
		return nil, fmt.Errorf("list flags of %q: %w", env, err)
	}
	fs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Flag, error) { return scanFlag(r) })
	if err != nil {
		return nil, fmt.Errorf("list flags of %q: %w", env, err)
	}
	if fs == nil {
		fs = []Flag{}
	}
	return fs, nil
}

// Flag returns one flag, or ErrNotFound.
func (s *Store) Flag(ctx context.Context, env, key string) (Flag, error) {
	f, err := scanFlag(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM flags WHERE env = $1 AND flag_key = $2`, env, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return Flag{}, ErrNotFound
	}
	if err != nil {
		return Flag{}, fmt.Errorf("read flag %q of %q: %w", key, env, err)
	}
	return f, nil
}

// Update applies p in one statement and returns the new row, or ErrNotFound.
func (s *Store) Update(ctx context.Context, env, key string, p Patch) (Flag, error) {
	f, err := scanFlag(s.pool.QueryRow(ctx, `UPDATE flags SET
		enabled = COALESCE($3, enabled),
		rollout = COALESCE($4, rollout),
		description = COALESCE($5, description)
		WHERE env = $1 AND flag_key = $2
		RETURNING `+columns, env, key, p.Enabled, p.RolloutPercentage, p.Description))
	if errors.Is(err, pgx.ErrNoRows) {
		return Flag{}, ErrNotFound
	}
	if err != nil {
		return Flag{}, fmt.Errorf("update flag %q of %q: %w", key, env, err)
	}
	return f, nil
}

// Seed creates the table if missing and inserts flag-000 .. flag-(n-1) in
// every environment, leaving existing flags alone. seed.sql does the same.
func (s *Store) Seed(ctx context.Context, envs []string, n int) error {
	if _, err := s.pool.Exec(ctx, createTable); err != nil {
		return fmt.Errorf("create table flags: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO flags (env, flag_key, enabled, rollout, description)
		SELECT e, 'flag-' || lpad(i::text, greatest(3, length(i::text)), '0'), i % 2 = 0, 0, ''
		FROM unnest($1::text[]) AS e, generate_series(0, $2::int - 1) AS i
		ON CONFLICT DO NOTHING`, envs, n)
	if err != nil {
		return fmt.Errorf("insert seed flags: %w", err)
	}
	return nil
}

const createTable = `CREATE TABLE IF NOT EXISTS flags (
	env         text    NOT NULL,
	flag_key    text    NOT NULL,
	enabled     boolean NOT NULL DEFAULT false,
	rollout     integer NOT NULL DEFAULT 0 CHECK (rollout BETWEEN 0 AND 100),
	description text    NOT NULL DEFAULT '',
	PRIMARY KEY (env, flag_key)
)`
