-- The minimal-go flag table and its seed: flag-000 .. flag-099 in
-- production, staging and development. Idempotent: run it as often as you
-- like (psql "$DATABASE_URL" -f seed.sql). `minimal-go seed` does the same,
-- with SEED_FLAGS and SEED_ENVIRONMENTS.
CREATE TABLE IF NOT EXISTS flags (
	env         text    NOT NULL,
	flag_key    text    NOT NULL,
	enabled     boolean NOT NULL DEFAULT false,
	rollout     integer NOT NULL DEFAULT 0 CHECK (rollout BETWEEN 0 AND 100),
	description text    NOT NULL DEFAULT '',
	PRIMARY KEY (env, flag_key)
);

INSERT INTO flags (env, flag_key, enabled, rollout, description)
SELECT e, 'flag-' || lpad(i::text, 3, '0'), i % 2 = 0, 0, ''
FROM unnest(ARRAY['production', 'staging', 'development']) AS e,
     generate_series(0, 99) AS i
ON CONFLICT DO NOTHING;
