-- Applied by Open on every start; every statement must be idempotent. Keys
-- use the "C" collation so that List orders by bytes, the same in every
-- database and in SQLite, and the primary key serves that order.
CREATE TABLE IF NOT EXISTS feature_flags (
    environment        text COLLATE "C" NOT NULL,
    key                text COLLATE "C" NOT NULL,
    enabled            boolean NOT NULL DEFAULT false,
    rollout_percentage integer NOT NULL DEFAULT 0 CHECK (rollout_percentage BETWEEN 0 AND 100),
    description        text NOT NULL DEFAULT '',
    version            bigint NOT NULL DEFAULT 1,
    updated_at         timestamp with time zone NOT NULL DEFAULT now(),
    PRIMARY KEY (environment, key)
);
