// The composition root (AC14): the one place that turns the environment
// into a store, a cache, a service and an HTTP server, and tears them down
// in order.
//
//   node dist/src/main.js          serve
//   node dist/src/main.js seed     create the flags (SEED_FLAGS per SEED_ENVIRONMENTS) and exit
//
// Exit codes: 0 done, 1 failed, 2 bad configuration or usage.

import { once } from 'node:events';
import { AddressInfo } from 'node:net';
import { Config, ConfigError, loadConfig } from './config';
import { Cache, RedisCacheAdapter, redisOptions } from './cache';
import { FlagService } from './service';
import { PgFlagStore } from './store';
import { newServer } from './http';
import { Logger, errText, newLogger, redactURL } from './log';

/** AC5: how long start-up waits for Redis before serving from the database. */
export function connectWait(cfg: Config): number {
  // hardened — cold-start: waiting the story's 500 ms for a blackholed
  // Redis made the service ready only after ~600 ms (AC5's own 500 ms, plus
  // Node's start): it does not wait; reads go to the database until the
  // client is ready.
  return cfg.variant === 'hardened' ? 0 : 500;
}

export interface App {
  url: string;
  close(): Promise<void>;
}

/** start builds and starts the service; the returned App stops it. */
export async function start(cfg: Config, log: Logger): Promise<App> {
  const hardened = cfg.variant === 'hardened';
  // hardened — postgres-slow: node-postgres's default pool of 10 queued
  // readers behind a slow database; 20 connections.
  const store = new PgFlagStore(cfg.databaseURL, hardened ? { max: 20 } : {});
  await store.migrate();
  let cache: RedisCacheAdapter | null = null;
  if (cfg.redisURL !== '') {
    cache = new RedisCacheAdapter(cfg.redisURL, redisOptions(cfg.variant), log, hardened);
    await waitReady(cache, connectWait(cfg), log);
  } else {
    log.warn('REDIS_URL not set: no cache, every read from the database'); // AC16
  }
  const service = new FlagService(store, cache as Cache | null, log, { hardened });
  const server = newServer({ service, cache, adminToken: cfg.adminToken, ping: () => store.ping(), log, variant: cfg.variant });
  server.listen(cfg.listenPort, cfg.listenHost);
  await once(server, 'listening');
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log.info('listening', { addr: url, variant: cfg.variant, redis: cfg.redisURL ? redactURL(cfg.redisURL) : 'none' });
  return {
    url,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      service.close();
      await cache?.close();
      await store.close();
    },
  };
}

/** AC5: wait at most ms for the eager connection, then serve anyway. */
async function waitReady(cache: RedisCacheAdapter, ms: number, log: Logger): Promise<void> {
  if (ms <= 0 || cache.client.status === 'ready') return;
  let timer: NodeJS.Timeout | undefined;
  const ready = await Promise.race([
    once(cache.client, 'ready').then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  if (!ready) log.warn('redis not ready at start: serving from the database, reconnecting in the background', { wait_ms: ms });
}

async function seed(cfg: Config, log: Logger): Promise<void> {
  const n = Number(process.env.SEED_FLAGS || '100');
  const envs = (process.env.SEED_ENVIRONMENTS || 'production,staging,development').split(',').map((s) => s.trim()).filter(Boolean);
  if (!Number.isInteger(n) || n < 0 || n > 100000) throw new ConfigError(`SEED_FLAGS: want 0..100000, got ${process.env.SEED_FLAGS}`);
  const store = new PgFlagStore(cfg.databaseURL);
  try {
    const created = await store.seed(envs, n);
    log.info('seeded', { created, per_environment: n, environments: envs });
  } finally {
    await store.close();
  }
}

async function main(argv: string[]): Promise<number> {
  let cfg: Config;
  try {
    cfg = loadConfig(process.env);
  } catch (err) {
    process.stderr.write(`seed-ioredis: ${errText(err)}\n`);
    return 2;
  }
  const log = newLogger(cfg.logLevel);
  const cmd = argv[0] ?? 'serve';
  try {
    switch (cmd) {
      case 'seed':
        await seed(cfg, log);
        return 0;
      case 'serve': {
        const app = await start(cfg, log);
        const signal = await new Promise<string>((resolve) => {
          process.once('SIGINT', () => resolve('SIGINT'));
          process.once('SIGTERM', () => resolve('SIGTERM'));
        });
        log.info('stopping', { signal });
        await app.close();
        return 0;
      }
      default:
        process.stderr.write(`seed-ioredis: unknown command ${JSON.stringify(cmd)} (want serve or seed)\n`);
        return 2;
    }
  } catch (err) {
    log.error('failed', { err: errText(err) });
    return err instanceof ConfigError ? 2 : 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
