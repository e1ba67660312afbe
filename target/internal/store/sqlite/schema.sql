-- SQLite has no boolean or timestamp types: enabled is 0 or 1, updated_at is
-- UTC text in a fixed-width RFC 3339 form with microseconds
-- (2006-01-02T15:04:05.000000Z), which sorts in time order. STRICT makes
-- SQLite reject values of the wrong type instead of coercing them.
CREATE TABLE IF NOT EXISTS feature_flags (
    environment        TEXT    NOT NULL,
    key                TEXT    NOT NULL,
    enabled            INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    rollout_percentage INTEGER NOT NULL DEFAULT 0 CHECK (rollout_percentage BETWEEN 0 AND 100),
    description        TEXT    NOT NULL DEFAULT '',
    version            INTEGER NOT NULL DEFAULT 1,
    updated_at         TEXT    NOT NULL,
    PRIMARY KEY (environment, key)
) STRICT, WITHOUT ROWID;
