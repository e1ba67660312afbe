// Configuration from the environment only (12-factor), read once by the
// composition root (main.ts). Nothing else reads process.env.

export type Variant = 'seed' | 'hardened';

export interface Config {
  /** LISTEN_ADDR: host:port to listen on. Default 127.0.0.1:8091. */
  listenHost: string;
  listenPort: number;
  /** DATABASE_URL: PostgreSQL (required). */
  databaseURL: string;
  /** REDIS_URL: the cache (AC16); "" means no cache, every read from the database. */
  redisURL: string;
  /** ADMIN_TOKEN: bearer token for PATCH; "" refuses every write (401). */
  adminToken: string;
  /** CACHE_VARIANT: seed (the story, literally) or hardened. Default seed. */
  variant: Variant;
  /** LOG_LEVEL: error, warn, info (default) or debug. */
  logLevel: string;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const listen = env.LISTEN_ADDR || '127.0.0.1:8091';
  const colon = listen.lastIndexOf(':');
  const port = Number(listen.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`LISTEN_ADDR: want host:port, got ${JSON.stringify(listen)}`);
  }
  const host = listen.slice(0, colon).replace(/^\[|\]$/g, '') || '127.0.0.1';
  const variant = (env.CACHE_VARIANT || 'seed').toLowerCase();
  if (variant !== 'seed' && variant !== 'hardened') {
    throw new ConfigError(`CACHE_VARIANT: want seed or hardened, got ${JSON.stringify(variant)}`);
  }
  const databaseURL = env.DATABASE_URL || '';
  if (databaseURL === '') {
    throw new ConfigError('DATABASE_URL: required (a PostgreSQL URL)');
  }
  return {
    listenHost: host,
    listenPort: port,
    databaseURL,
    redisURL: env.REDIS_URL || '',
    adminToken: env.ADMIN_TOKEN || '',
    variant,
    logLevel: env.LOG_LEVEL || 'info',
  };
}
