// The story's service layer (AC2, AC3, AC4, AC8): read through the cache,
// fall back to the database, write the database first and then delete
// both keys. The hardened variant adds what the suite showed missing,
// each addition beside its finding (FINDINGS.md).

import { Cache, CacheError, flagKey, listKey } from './cache';
import { Flag, FlagPatch, PgFlagStore } from './store';
import { Logger, errText } from './log';

/** Where an answer came from: flagstorm's X-Flag-Source values. */
export type Source = 'redis' | 'db' | 'db-fallback' | 'stale';

/** An answer as JSON text (null: unknown key) and where it came from. */
export interface Read {
  json: string | null;
  source: Source;
}

/** The database failed: the HTTP layer answers 503. */
export class UnavailableError extends Error {}

/** What the service needs of the store (PgFlagStore, or a fake in tests). */
export type Store = Pick<PgFlagStore, 'listJSON' | 'get' | 'update'>;

export interface ServiceOptions {
  /** The hardened variant's additions (below); false: the story's service, literally. */
  hardened: boolean;
  /** How often failed invalidations are retried (hardened). Default 100 ms. */
  invalidationRetry?: number;
}

export class FlagService {
  private readonly hardened: boolean;
  // hardened — invalidation-during-outage, redis-blackhole, redis-outage,
  // redis-refused: the story swallows a failed DEL (AC3), so after the
  // outage Redis served the version from before every update it took
  // (AC8 broken until the 300 s TTL, AC7). Keys whose DEL failed are kept
  // here, read from the database meanwhile, and deleted again every 100 ms
  // until Redis takes it.
  private readonly pending = new Map<string, number>(); // key -> failures so far
  // hardened — the fill race (seed's stale reads without a fault): a read
  // that fetched the database before an update commits can SETEX the old
  // value after the update's DEL. Each key has a generation, bumped by an
  // update after its commit; a read fills only if the generation did not
  // move while it read the database. (Per process: another instance's
  // update is not seen, see FINDINGS.md two-instances.)
  private readonly generations = new Map<string, number>();
  // hardened — postgres-slow, redis-blackhole: every reader of a missing or
  // invalidated key went to the database and queued on the pool; readers of
  // one key now share one query. An acknowledged update forgets the flight,
  // so no reader that starts after its 200 joins an older query.
  private readonly flights = new Map<string, Promise<unknown>>();
  // hardened — both-down: with Redis and PostgreSQL both down every list
  // failed (503). The last list read per environment answers instead
  // (source "stale"); an acknowledged update patches it, so it is never
  // older than a write this process acknowledged.
  private readonly lastLists = new Map<string, Flag[] | string>();
  private readonly writesDone = new Map<string, number>();
  private retryTimer?: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly cache: Cache | null, // AC16: no REDIS_URL, no cache
    private readonly log: Logger,
    opts: ServiceOptions,
  ) {
    this.hardened = opts.hardened;
    if (this.hardened && this.cache) {
      this.retryTimer = setInterval(() => void this.retryInvalidations(), opts.invalidationRetry ?? 100);
      this.retryTimer.unref();
    }
  }

  close(): void {
    if (this.retryTimer) clearInterval(this.retryTimer);
  }

  /** GET /api/config/flags?environment=E: the JSON array of the environment's flags. */
  async getFlags(environment: string): Promise<Read> {
    const key = listKey(environment);
    const startWrites = this.writesDone.get(environment) ?? 0;
    try {
      const r = await this.readThrough(key, () => this.store.listJSON(environment));
      if (this.hardened && r.json !== null && (this.writesDone.get(environment) ?? 0) === startWrites) {
        this.lastLists.set(environment, r.json); // parsed only if ever needed
      }
      return r;
    } catch (err) {
      const copy = this.hardened ? this.lastList(environment) : undefined;
      if (err instanceof UnavailableError && copy) {
        return { json: JSON.stringify(copy), source: 'stale' };
      }
      throw err;
    }
  }

  /** GET /api/config/flags/{key}?environment=E; json null: unknown key (404). */
  async getFlag(environment: string, key: string): Promise<Read> {
    return this.readThrough(flagKey(environment, key), async () => {
      const f = await this.store.get(environment, key);
      return f === null ? null : JSON.stringify(f);
    });
  }

  /**
   * AC2, AC3, AC4: the cache first; a miss (AC2) or a failure (AC3, a get
   * error is a miss) reads the database (AC4) and fills the cache for
   * 300 s (AC7). Unknown keys are not cached. Values are JSON text (the
   * adapter's getRaw/setRaw: see cache.ts).
   */
  private async readThrough(key: string, load: () => Promise<string | null>): Promise<Read> {
    let source: Source = 'db';
    if (this.cache && !this.pending.has(key)) {
      try {
        const raw = await this.cache.getRaw(key);
        if (raw !== null) return { json: raw, source: 'redis' };
      } catch (err) {
        if (!(err instanceof CacheError)) throw err;
        source = 'db-fallback';
      }
    } else if (this.cache) {
      source = 'db-fallback';
    }
    const gen = this.generations.get(key) ?? 0;
    const json = await this.load(key, load);
    if (this.cache && json !== null) {
      if (!this.hardened) {
        await this.cache.setRaw(key, json); // the story: awaited, errors swallowed (AC3)
      } else if ((this.generations.get(key) ?? 0) === gen && !this.pending.has(key)) {
        // hardened — redis-latency: the answer does not wait for the SET.
        void this.cache.setRaw(key, json);
      }
    }
    return { json, source };
  }

  private async load<T>(key: string, load: () => Promise<T>): Promise<T> {
    const run = async () => {
      try {
        return await load();
      } catch (err) {
        throw new UnavailableError(errText(err));
      }
    };
    if (!this.hardened) return run();
    let flight = this.flights.get(key) as Promise<T> | undefined;
    if (!flight) {
      flight = run();
      this.flights.set(key, flight);
      const done = () => {
        if (this.flights.get(key) === flight) this.flights.delete(key);
      };
      flight.then(done, done);
    }
    return flight;
  }

  /**
   * PATCH: AC8, the database first, then both keys deleted (one DEL).
   * Returns null for an unknown key (404).
   */
  async updateFlag(environment: string, key: string, patch: FlagPatch): Promise<Flag | null> {
    let flag: Flag | null;
    try {
      flag = await this.store.update(environment, key, patch);
    } catch (err) {
      throw new UnavailableError(errText(err));
    }
    if (flag === null) return null;
    const keys = [flagKey(environment, key), listKey(environment)];
    if (this.hardened) {
      for (const k of keys) {
        this.generations.set(k, (this.generations.get(k) ?? 0) + 1);
        this.flights.delete(k);
      }
      this.writesDone.set(environment, (this.writesDone.get(environment) ?? 0) + 1);
      const copy = this.lastList(environment);
      if (copy) {
        const f = flag;
        this.lastLists.set(environment, copy.map((c) => (c.key === f.key && c.version < f.version ? f : c)));
      }
    }
    if (this.cache) {
      const ok = await this.cache.del(...keys); // AC3: a failure is logged and swallowed
      if (!ok && this.hardened) {
        for (const k of keys) this.pending.set(k, (this.pending.get(k) ?? 0) + 1);
      }
    }
    return flag;
  }

  private lastList(environment: string): Flag[] | undefined {
    let copy = this.lastLists.get(environment);
    if (typeof copy === 'string') {
      copy = JSON.parse(copy) as Flag[];
      this.lastLists.set(environment, copy);
    }
    return copy;
  }

  /** hardened: deletes the keys whose invalidation failed, until Redis takes it. */
  private retrying = false;
  private async retryInvalidations(): Promise<void> {
    if (this.retrying || this.pending.size === 0 || !this.cache) return;
    this.retrying = true;
    try {
      const snapshot = new Map(this.pending);
      const keys = [...snapshot.keys()];
      if (await this.cache.del(...keys)) {
        // A key whose DEL failed again meanwhile stays pending.
        for (const k of keys) if (this.pending.get(k) === snapshot.get(k)) this.pending.delete(k);
        this.log.info('pending invalidations delivered', { keys: keys.length });
      }
    } finally {
      this.retrying = false;
    }
  }

  /** Keys whose DEL has not reached Redis yet (hardened). */
  pendingInvalidations(): number {
    return this.pending.size;
  }
}
