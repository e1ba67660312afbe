// Package sqlite is the flags.Store on a SQLite database file, through the
// pure-Go driver modernc.org/sqlite. It runs the flag server without
// PostgreSQL; several processes may share the file.
//
// The database is in WAL mode. Writes go through a pool of one connection,
// so the writes of one process queue in Go, in order and cancellably, and
// take SQLite's write lock at BEGIN (BEGIN IMMEDIATE): a read-modify-write
// can neither lose an update nor fail half-way with SQLITE_BUSY. Another
// process's writes are waited for up to the busy timeout. Reads use a
// separate pool of read-only connections and are not blocked by writes.
package sqlite

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/flagstorm/flagstorm/target/internal/flags"
	"github.com/flagstorm/flagstorm/target/internal/store/seed"
)

//go:embed schema.sql
var schema string

// Config configures Open.
type Config struct {
	// Path is the database file, created with its schema if absent.
	// Required. ":memory:" is not allowed: every connection would have its
	// own empty database.
	Path string
	// QueryTimeout bounds each Get, List, Update and Ping call, including
	// the wait for a connection. Default (zero): 2s. Open and Seed are bounded
	// only by their context.
	QueryTimeout time.Duration
}

const (
	defaultQueryTimeout = 2 * time.Second
	// busyTimeout is how long a connection waits for a lock another process
	// holds before failing with SQLITE_BUSY.
	busyTimeout = 5 * time.Second
	// timeLayout is how updated_at is stored: fixed width, so text order is
	// time order.
	timeLayout = "2006-01-02T15:04:05.000000Z"
)

func (c Config) validate() error {
	var errs []error
	switch {
	case c.Path == "":
		errs = append(errs, errors.New("path is empty; name a database file"))
	case c.Path == ":memory:" || strings.HasPrefix(c.Path, "file:"):
		errs = append(errs, fmt.Errorf("path %q is not a file path; name a database file (use a temporary file in tests)", c.Path))
	}
	if c.QueryTimeout < 0 {
		errs = append(errs, fmt.Errorf("query timeout %v is negative; use 0 for the default of %v", c.QueryTimeout, defaultQueryTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: invalid config: %w", err)
	}
	return nil
}

// Store is a flags.Store on a SQLite file. It is safe for concurrent use.
type Store struct {
	writer  *sql.DB // one connection; every write transaction is BEGIN IMMEDIATE
	readers *sql.DB // query_only connections
	timeout time.Duration
}

var _ flags.Store = (*Store)(nil)

// Open opens the database file, creating it and its schema if needed.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Store{timeout: cfg.QueryTimeout}
	if s.timeout == 0 {
		s.timeout = defaultQueryTimeout
	}
	var err error
	if s.writer, err = sql.Open("sqlite", dsn(cfg.Path, false)); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", cfg.Path, err)
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	if err := migrate(ctx, s.writer); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", cfg.Path, err)
	}
	// Readers are opened once the writer has switched the file to WAL mode,
	// which they cannot do themselves.
	if s.readers, err = sql.Open("sqlite", dsn(cfg.Path, true)); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", cfg.Path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.readers.SetMaxOpenConns(n)
	s.readers.SetMaxIdleConns(n)
	if err := s.readers.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", cfg.Path, err)
	}
	return s, nil
}

// dsn is the modernc.org/sqlite data source name of the file at path.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	// In WAL mode, NORMAL never corrupts the database and a commit survives
	// a crash of the process; only a power loss can undo the last commits.
	q.Add("_pragma", "synchronous(NORMAL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	}
	// As a URI, the path is percent-decoded by SQLite: escape what would
	// otherwise end it or be decoded.
	escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	return "file:" + escaped + "?" + q.Encode()
}

// migrate creates the schema if it is missing. The write lock, taken at
// BEGIN, serializes processes that start at once.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin schema transaction: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("apply schema: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit schema: %w", err)
	}
	return nil
}

// Close closes the store's connections, waiting for calls in progress.
// Like postgres.Store.Close it reports nothing: database/sql only passes on
// errors of sqlite3_close_v2, which succeeds on any open connection (it
// defers the close of a busy one).
func (s *Store) Close() {
	s.readers.Close()
	s.writer.Close()
}

// PoolStat describes the store's connections, both pools together.
type PoolStat struct {
	Acquired     int           // connections in use
	Idle         int           // open connections not in use
	Total        int           // open connections
	Max          int           // the most connections that can be open
	Waits        int64         // calls that had to wait for a connection, since Open
	WaitDuration time.Duration // total time calls waited for a connection, since Open
}

// Stat reports the state of the connection pools.
func (s *Store) Stat() PoolStat {
	var p PoolStat
	for _, db := range []*sql.DB{s.writer, s.readers} {
		st := db.Stats()
		p.Acquired += st.InUse
		p.Idle += st.Idle
		p.Total += st.OpenConnections
		p.Max += st.MaxOpenConnections
		p.Waits += st.WaitCount
		p.WaitDuration += st.WaitDuration
	}
	return p
}

const columns = "environment, key, enabled, rollout_percentage, description, version, updated_at"

type scanner interface {
	Scan(dest ...any) error
}

func scan(row scanner) (flags.Flag, error) {
	var (
		f  flags.Flag
		ts string
	)
	if err := row.Scan(&f.Environment, &f.Key, &f.Enabled, &f.RolloutPercentage, &f.Description, &f.Version, &ts); err != nil {
		return flags.Flag{}, err
	}
	t, err := time.Parse(timeLayout, ts)
	if err != nil {
		return flags.Flag{}, fmt.Errorf("flag %q in %q has a malformed updated_at: %w", f.Key, f.Environment, err)
	}
	f.UpdatedAt = t
	return f, nil
}

// now is the current time as stored: UTC, whole microseconds.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Get returns one flag, or flags.ErrNotFound.
func (s *Store) Get(ctx context.Context, env, key string) (flags.Flag, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	f, err := scan(s.readers.QueryRowContext(ctx,
		"SELECT "+columns+" FROM feature_flags WHERE environment = ? AND key = ?", env, key))
	if errors.Is(err, sql.ErrNoRows) {
		err = flags.ErrNotFound
	}
	if err != nil {
		return flags.Flag{}, fmt.Errorf("sqlite: get flag %q in %q: %w", key, env, err)
	}
	return f, nil
}

// List returns every flag of env ordered by key (byte order); an environment
// without flags gives an empty slice.
func (s *Store) List(ctx context.Context, env string) ([]flags.Flag, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	fs, err := s.list(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list flags in %q: %w", env, err)
	}
	return fs, nil
}

func (s *Store) list(ctx context.Context, env string) ([]flags.Flag, error) {
	rows, err := s.readers.QueryContext(ctx,
		"SELECT "+columns+" FROM feature_flags WHERE environment = ? ORDER BY key", env)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	fs := []flags.Flag{}
	for rows.Next() {
		f, err := scan(rows)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, rows.Err()
}

// Update applies p to a flag in one transaction, increments its version and
// sets UpdatedAt to now, or to a microsecond after the previous UpdatedAt if
// the clock has not moved past it. If ifVersion is not zero and is not the
// stored version, it changes nothing and returns flags.ErrVersionConflict.
// An unknown flag gives flags.ErrNotFound, an invalid patch the
// *flags.FieldError of p.Validate.
func (s *Store) Update(ctx context.Context, env, key string, p flags.Patch, ifVersion int64) (flags.Flag, error) {
	if err := p.Validate(); err != nil {
		return flags.Flag{}, fmt.Errorf("sqlite: update flag %q in %q: %w", key, env, err)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	f, err := s.update(ctx, env, key, p, ifVersion)
	if err != nil {
		return flags.Flag{}, fmt.Errorf("sqlite: update flag %q in %q: %w", key, env, err)
	}
	return f, nil
}

func (s *Store) update(ctx context.Context, env, key string, p flags.Patch, ifVersion int64) (flags.Flag, error) {
	tx, err := s.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock from here
	if err != nil {
		return flags.Flag{}, err
	}
	defer tx.Rollback()
	cur, err := scan(tx.QueryRowContext(ctx,
		"SELECT "+columns+" FROM feature_flags WHERE environment = ? AND key = ?", env, key))
	if errors.Is(err, sql.ErrNoRows) {
		return flags.Flag{}, flags.ErrNotFound
	}
	if err != nil {
		return flags.Flag{}, err
	}
	if ifVersion != 0 && cur.Version != ifVersion {
		return flags.Flag{}, fmt.Errorf("stored version is %d, not %d: %w", cur.Version, ifVersion, flags.ErrVersionConflict)
	}
	next := p.Apply(cur)
	next.Version = cur.Version + 1
	next.UpdatedAt = now()
	if !next.UpdatedAt.After(cur.UpdatedAt) {
		next.UpdatedAt = cur.UpdatedAt.Add(time.Microsecond)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE feature_flags
		SET enabled = ?, rollout_percentage = ?, description = ?, version = ?, updated_at = ?
		WHERE environment = ? AND key = ?`,
		next.Enabled, next.RolloutPercentage, next.Description, next.Version, next.UpdatedAt.Format(timeLayout),
		env, key); err != nil {
		return flags.Flag{}, err
	}
	if err := tx.Commit(); err != nil {
		return flags.Flag{}, err
	}
	return next, nil
}

// Ping reports whether the database can be read.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var one int
	if err := s.readers.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Seed creates the flags of seed.Flags(envs, n) that do not exist yet, in
// one transaction, and returns how many it created. Existing flags are left
// untouched.
func (s *Store) Seed(ctx context.Context, envs []string, n int) (int, error) {
	fs, err := seed.Flags(envs, n)
	if err != nil {
		return 0, err
	}
	created, err := s.seed(ctx, fs)
	if err != nil {
		return 0, fmt.Errorf("sqlite: seed %d flags in %q: %w", n, envs, err)
	}
	return created, nil
}

func (s *Store) seed(ctx context.Context, fs []flags.Flag) (int, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO feature_flags ("+columns+
		") VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (environment, key) DO NOTHING")
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	ts := now().Format(timeLayout)
	var created int64
	for _, f := range fs {
		res, err := stmt.ExecContext(ctx, f.Environment, f.Key, f.Enabled, f.RolloutPercentage, f.Description, f.Version, ts)
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		created += n
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return int(created), nil
}
