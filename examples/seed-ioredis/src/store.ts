// The flags in PostgreSQL (node-postgres): the source of truth.

import { Pool, PoolConfig } from 'pg';

export interface Flag {
  key: string;
  environment: string;
  enabled: boolean;
  rolloutPercentage: number;
  description: string;
  /** Grows by one with every update (flagstorm's oracle orders writes by it). */
  version: number;
  updatedAt: string;
}

export interface FlagPatch {
  enabled?: boolean;
  rolloutPercentage?: number;
  description?: string;
}

const schema = `
CREATE TABLE IF NOT EXISTS feature_flags (
  environment        text        NOT NULL,
  key                text        NOT NULL,
  enabled            boolean     NOT NULL DEFAULT false,
  rollout_percentage integer     NOT NULL DEFAULT 0 CHECK (rollout_percentage BETWEEN 0 AND 100),
  description        text        NOT NULL DEFAULT '',
  version            bigint      NOT NULL DEFAULT 1,
  updated_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (environment, key)
)`;

const columns = 'key, environment, enabled, rollout_percentage, description, version, updated_at';

interface Row {
  key: string;
  environment: string;
  enabled: boolean;
  rollout_percentage: number;
  description: string;
  version: string; // bigint comes back as a string
  updated_at: Date;
}

function toFlag(r: Row): Flag {
  return {
    key: r.key,
    environment: r.environment,
    enabled: r.enabled,
    rolloutPercentage: r.rollout_percentage,
    description: r.description,
    version: Number(r.version),
    updatedAt: r.updated_at.toISOString(),
  };
}

export class PgFlagStore {
  readonly pool: Pool;

  constructor(databaseURL: string, extra: PoolConfig = {}) {
    this.pool = new Pool({ connectionString: databaseURL, ...extra });
    // An idle client's error (the database went away) must not crash the process.
    this.pool.on('error', () => {});
  }

  async migrate(): Promise<void> {
    await this.pool.query(schema);
  }

  async list(environment: string): Promise<Flag[]> {
    const r = await this.pool.query<Row>(`SELECT ${columns} FROM feature_flags WHERE environment = $1 ORDER BY key`, [environment]);
    return r.rows.map(toFlag);
  }

  /**
   * list as JSON text, rendered by PostgreSQL (json_agg): what Redis stores
   * and the response carries. Not in the story, whose service maps rows and
   * encodes them: on 2 shared cores that cost Node ~0.7 ms of CPU per
   * 100-flag list (pg's row parsing plus JSON.stringify), and every read
   * of a Redis fault pays it. Both variants read lists through it.
   */
  async listJSON(environment: string): Promise<string> {
    const r = await this.pool.query<{ flags: string }>(
      `SELECT coalesce(json_agg(json_build_object(
         'key', key, 'environment', environment, 'enabled', enabled,
         'rolloutPercentage', rollout_percentage, 'description', description,
         'version', version, 'updatedAt', to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
         ORDER BY key), '[]')::text AS flags
       FROM feature_flags WHERE environment = $1`,
      [environment],
    );
    return r.rows[0].flags;
  }

  async get(environment: string, key: string): Promise<Flag | null> {
    const r = await this.pool.query<Row>(`SELECT ${columns} FROM feature_flags WHERE environment = $1 AND key = $2`, [environment, key]);
    return r.rows.length ? toFlag(r.rows[0]) : null;
  }

  /** Applies patch and returns the flag as written, null if unknown. */
  async update(environment: string, key: string, patch: FlagPatch): Promise<Flag | null> {
    const r = await this.pool.query<Row>(
      `UPDATE feature_flags SET
         enabled = COALESCE($3, enabled),
         rollout_percentage = COALESCE($4, rollout_percentage),
         description = COALESCE($5, description),
         version = version + 1,
         updated_at = now()
       WHERE environment = $1 AND key = $2
       RETURNING ${columns}`,
      [environment, key, patch.enabled ?? null, patch.rolloutPercentage ?? null, patch.description ?? null],
    );
    return r.rows.length ? toFlag(r.rows[0]) : null;
  }

  /** Creates flag-000 .. flag-(n-1) in every environment where missing. */
  async seed(environments: string[], n: number): Promise<number> {
    await this.migrate();
    const r = await this.pool.query(
      `INSERT INTO feature_flags (environment, key, description)
       SELECT e, 'flag-' || CASE WHEN i < 1000 THEN lpad(i::text, 3, '0') ELSE i::text END, 'seeded'
       FROM unnest($1::text[]) AS e, generate_series(0, $2 - 1) AS i
       ON CONFLICT DO NOTHING`,
      [environments, n],
    );
    return r.rowCount ?? 0;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
