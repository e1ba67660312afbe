// Package postgres is the flags.Store on PostgreSQL, through a pgx
// connection pool.
package postgres

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flagstorm/flagstorm/target/internal/flags"
	"github.com/flagstorm/flagstorm/target/internal/store/seed"
)

//go:embed schema.sql
var schema string

// schemaLockID is the pg_advisory_xact_lock key that serializes applying the
// schema, so that processes starting at once do not race in CREATE TABLE.
const schemaLockID int64 = 0x666c_6167_7374_6f72 // "flagstor"

const defaultQueryTimeout = 2 * time.Second

// Config configures Open.
type Config struct {
	// URL is the connection string, postgres://user:password@host:port/db?...
	// or key=value form; see pgxpool.ParseConfig. Required.
	URL string
	// MaxConns is the most connections the pool opens; it wins over the
	// URL's pool_max_conns. Zero: the URL's pool_max_conns, else
	// DefaultMaxConns.
	MaxConns int32
	// DefaultMaxConns is the pool's size when neither MaxConns nor the
	// URL sets it. Zero: pgx's default, the greater of 4 and the number of
	// CPUs.
	DefaultMaxConns int32
	// QueryTimeout bounds each Get, List, Update and Ping call, including
	// the wait for a connection. Default (zero): 2s. Open and Seed are bounded
	// only by their context.
	QueryTimeout time.Duration
}

func (c Config) validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("URL is empty; give a postgres:// connection string"))
	}
	if c.MaxConns < 0 || c.DefaultMaxConns < 0 {
		errs = append(errs, fmt.Errorf("max connections %d (default %d) is negative; use 0 for the pgx default", c.MaxConns, c.DefaultMaxConns))
	}
	if c.QueryTimeout < 0 {
		errs = append(errs, fmt.Errorf("query timeout %v is negative; use 0 for the default of %v", c.QueryTimeout, defaultQueryTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("postgres: invalid config: %w", err)
	}
	return nil
}

// setsMaxConns reports whether a connection string (a URL or key=value
// pairs, as pgxpool.ParseConfig takes) sets pool_max_conns.
func setsMaxConns(dsn string) bool {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return u.Query().Has("pool_max_conns")
	}
	return keyValueMaxConns.MatchString(dsn)
}

// keyValueMaxConns finds the pool_max_conns key of key=value pairs, which
// libpq's syntax allows with spaces around "=".
var keyValueMaxConns = regexp.MustCompile(`(^|\s)pool_max_conns\s*=`)

// Store is a flags.Store on PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

var _ flags.Store = (*Store)(nil)

// Open connects to the database, checks that it answers and creates the
// schema if it is missing. Its errors never contain the password.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// Not wrapped: the error carries the URL, and pgx can only mask the
		// password of a URL it understands.
		return nil, fmt.Errorf("postgres: parse URL: %s", redact(err.Error(), cfg.URL))
	}
	switch {
	case cfg.MaxConns > 0:
		pcfg.MaxConns = cfg.MaxConns
	case cfg.DefaultMaxConns > 0 && !setsMaxConns(cfg.URL):
		pcfg.MaxConns = cfg.DefaultMaxConns
	}
	if _, ok := pcfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		pcfg.ConnConfig.RuntimeParams["application_name"] = "flagserver"
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// pgx's connect errors name the user and database; the others do not.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: database %q: %w", pcfg.ConnConfig.Database, err)
	}
	s := &Store{pool: pool, timeout: cfg.QueryTimeout}
	if s.timeout == 0 {
		s.timeout = defaultQueryTimeout
	}
	return s, nil
}

// migrate applies the schema under an advisory lock held to the end of the
// transaction.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", schemaLockID); err != nil {
			return fmt.Errorf("lock schema: %w", err)
		}
		if _, err := tx.Exec(ctx, schema); err != nil {
			return fmt.Errorf("apply schema: %w", err)
		}
		return nil
	})
}

var (
	keyValuePassword = regexp.MustCompile(`(?i)password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s]+)`)
	passwordQuery    = regexp.MustCompile(`(?i)[?&](?:ssl)?password=([^&#]*)`)
)

// redact masks in msg every string that may be a password in rawURL: the
// userinfo password of a URL, its password and sslpassword parameters, and
// password= in key=value form, raw and percent-decoded. It is deliberately
// greedy: masking too much only makes an error message less precise.
func redact(msg, rawURL string) string {
	var secrets []string
	if _, rest, ok := strings.Cut(rawURL, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				secrets = append(secrets, pw)
			}
		}
	}
	for _, m := range passwordQuery.FindAllStringSubmatch(rawURL, -1) {
		secrets = append(secrets, m[1])
	}
	for _, m := range keyValuePassword.FindAllStringSubmatch(rawURL, -1) {
		secrets = append(secrets, m[1], strings.Trim(m[1], "'"))
	}
	for _, s := range secrets {
		if d, err := url.PathUnescape(s); err == nil {
			secrets = append(secrets, d)
		}
		if d, err := url.QueryUnescape(s); err == nil {
			secrets = append(secrets, d)
		}
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
}

// Close closes the pool, waiting for connections in use to be released.
func (s *Store) Close() { s.pool.Close() }

// PoolStat describes the connection pool.
type PoolStat struct {
	Acquired     int           // connections in use
	Idle         int           // open connections not in use
	Total        int           // open connections, including ones being opened
	Max          int           // the most connections that can be open
	Waits        int64         // acquires that had to wait for a connection, since Open
	WaitDuration time.Duration // total time acquires waited for a connection, since Open
}

// Stat reports the state of the connection pool.
func (s *Store) Stat() PoolStat {
	st := s.pool.Stat()
	return PoolStat{
		Acquired:     int(st.AcquiredConns()),
		Idle:         int(st.IdleConns()),
		Total:        int(st.TotalConns()),
		Max:          int(st.MaxConns()),
		Waits:        st.EmptyAcquireCount(),
		WaitDuration: st.EmptyAcquireWaitTime(),
	}
}

const columns = "environment, key, enabled, rollout_percentage, description, version, updated_at"

func scan(row pgx.Row, extra ...any) (flags.Flag, error) {
	var f flags.Flag
	dest := append(extra, &f.Environment, &f.Key, &f.Enabled, &f.RolloutPercentage, &f.Description, &f.Version, &f.UpdatedAt)
	if err := row.Scan(dest...); err != nil {
		return flags.Flag{}, err
	}
	// timestamptz has microsecond precision; pgx returns local time.
	f.UpdatedAt = f.UpdatedAt.UTC()
	return f, nil
}

func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Get returns one flag, or flags.ErrNotFound.
func (s *Store) Get(ctx context.Context, env, key string) (flags.Flag, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	f, err := scan(s.pool.QueryRow(ctx,
		"SELECT "+columns+" FROM feature_flags WHERE environment = $1 AND key = $2", env, key))
	if errors.Is(err, pgx.ErrNoRows) {
		err = flags.ErrNotFound
	}
	if err != nil {
		return flags.Flag{}, fmt.Errorf("postgres: get flag %q in %q: %w", key, env, err)
	}
	return f, nil
}

// List returns every flag of env ordered by key (byte order); an environment
// without flags gives an empty slice.
func (s *Store) List(ctx context.Context, env string) ([]flags.Flag, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx,
		"SELECT "+columns+" FROM feature_flags WHERE environment = $1 ORDER BY key", env)
	if err != nil {
		return nil, fmt.Errorf("postgres: list flags in %q: %w", env, err)
	}
	fs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (flags.Flag, error) { return scan(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list flags in %q: %w", env, err)
	}
	if fs == nil {
		fs = []flags.Flag{}
	}
	return fs, nil
}

// UpdatedSince returns every flag whose last update began after since,
// in any environment (flags.RecentStore: the cache reconciler's query).
func (s *Store) UpdatedSince(ctx context.Context, since time.Time) ([]flags.Flag, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT "+columns+" FROM feature_flags WHERE updated_at > $1", since)
	if err != nil {
		return nil, fmt.Errorf("postgres: flags updated since %s: %w", since.Format(time.RFC3339), err)
	}
	fs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (flags.Flag, error) { return scan(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: flags updated since %s: %w", since.Format(time.RFC3339), err)
	}
	return fs, nil
}

// updateSQL updates a flag and returns it with updated = true; if the version
// check fails it returns the flag as it is with updated = false; if there is
// no such flag it returns no row. It is one statement, so one transaction:
// the row lock and PostgreSQL's recheck of the WHERE clause against the
// latest committed row make concurrent updates queue, and none is lost.
// UpdatedAt never goes backwards, even if the clock does or if an update
// that started earlier (now() is its start time) commits later.
const updateSQL = `
WITH updated AS (
    UPDATE feature_flags SET
        enabled            = COALESCE($3, enabled),
        rollout_percentage = COALESCE($4, rollout_percentage),
        description        = COALESCE($5, description),
        version            = version + 1,
        updated_at         = GREATEST(now(), updated_at + interval '1 microsecond')
    WHERE environment = $1 AND key = $2 AND ($6::bigint = 0 OR version = $6::bigint)
    RETURNING ` + columns + `
)
SELECT true, ` + columns + ` FROM updated
UNION ALL
SELECT false, ` + columns + ` FROM feature_flags
WHERE environment = $1 AND key = $2 AND NOT EXISTS (SELECT FROM updated)`

// Update applies p to a flag in one transaction, increments its version and
// sets UpdatedAt to the transaction time, or to a microsecond after the
// previous UpdatedAt if that is not earlier. If ifVersion is not zero and is
// not the stored version, it changes nothing and returns
// flags.ErrVersionConflict. An unknown flag gives flags.ErrNotFound, an
// invalid patch the *flags.FieldError of p.Validate.
func (s *Store) Update(ctx context.Context, env, key string, p flags.Patch, ifVersion int64) (flags.Flag, error) {
	if err := p.Validate(); err != nil {
		return flags.Flag{}, fmt.Errorf("postgres: update flag %q in %q: %w", key, env, err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var updated bool
	f, err := scan(s.pool.QueryRow(ctx, updateSQL, env, key, p.Enabled, p.RolloutPercentage, p.Description, ifVersion), &updated)
	var connectErr *pgconn.ConnectError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		err = flags.ErrNotFound
	case err == nil && !updated:
		err = fmt.Errorf("stored version is %d, not %d: %w", f.Version, ifVersion, flags.ErrVersionConflict)
	case err != nil && (errors.As(err, &connectErr) || pgconn.SafeToRetry(err)):
		// No connection, or nothing sent: the update certainly did not
		// commit.
		err = fmt.Errorf("%w: %w", flags.ErrNotCommitted, err)
	}
	if err != nil {
		return flags.Flag{}, fmt.Errorf("postgres: update flag %q in %q: %w", key, env, err)
	}
	return f, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Seed creates the flags of seed.Flags(envs, n) that do not exist yet, in
// one statement, and returns how many it created. Existing flags are left
// untouched.
func (s *Store) Seed(ctx context.Context, envs []string, n int) (int, error) {
	fs, err := seed.Flags(envs, n)
	if err != nil {
		return 0, err
	}
	var (
		env, key, desc = make([]string, len(fs)), make([]string, len(fs)), make([]string, len(fs))
		enabled        = make([]bool, len(fs))
		rollout        = make([]int32, len(fs))
		version        = make([]int64, len(fs))
	)
	for i, f := range fs {
		env[i], key[i], enabled[i], rollout[i], desc[i], version[i] = f.Environment, f.Key, f.Enabled, int32(f.RolloutPercentage), f.Description, f.Version
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO feature_flags (environment, key, enabled, rollout_percentage, description, version, updated_at)
		SELECT *, now() FROM unnest($1::text[], $2::text[], $3::boolean[], $4::integer[], $5::text[], $6::bigint[])
		ON CONFLICT (environment, key) DO NOTHING`,
		env, key, enabled, rollout, desc, version)
	if err != nil {
		return 0, fmt.Errorf("postgres: seed %d flags in %q: %w", n, envs, err)
	}
	return int(tag.RowsAffected()), nil
}
