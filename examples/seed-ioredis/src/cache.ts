// The story's Redis cache adapter, on ioredis 5 (AC1, AC2, AC3, AC6, AC7,
// AC15, AC16). The seed variant is the story's code, setting by setting;
// the hardened variant changes only the options marked "hardened", each
// beside what flagstorm's suite found (examples/seed-ioredis/FINDINGS.md).

import Redis, { RedisOptions } from 'ioredis';
import CircuitBreaker from 'opossum';
import { Logger, errText } from './log';
import type { Variant } from './config';

/** AC7: every entry lives 300 s. */
export const CACHE_TTL_SECONDS = 300;

/** AC2/AC15: one flag of one environment. */
export function flagKey(environment: string, key: string): string {
  return `feature_flags:${environment}:${key}`;
}

/** AC2: every flag of one environment (the list endpoint). */
export function listKey(environment: string): string {
  return `feature_flags:${environment}`;
}

/** The story's client options (AC1, AC6), literally. */
export function seedOptions(): RedisOptions {
  return {
    maxRetriesPerRequest: 3, // AC6: "up to 3 retries"
    retryStrategy: (times: number) => Math.min(times * 100, 2000), // AC6: 100 ms x attempt, max 2 s
    connectTimeout: 2000, // AC1: 2 s connect timeout
    lazyConnect: false, // AC5: eager connection at start
  };
}

/**
 * The hardened variant's client options: the story's, plus the smallest
 * changes that fix what the suite found in the story's client.
 */
export function hardenedOptions(): RedisOptions {
  return {
    ...seedOptions(),
    // redis-latency, redis-blackhole, redis-outage: ioredis has no command
    // timeout unless one is set; a slow or hung Redis made every read wait
    // for it (seconds; forever under a blackhole). 25 ms keeps a GET and a
    // SET inside the story's 50 ms p95 (AC9-AC13).
    commandTimeout: 25,
    // redis-blackhole, redis-outage, cold-start: commands swallowed by a
    // blackhole never get their replies, and ioredis keeps the connection
    // (commandTimeout rejects the command, not the socket): after the fault
    // every command on it still timed out. A socket with pending commands
    // and no data for 500 ms is destroyed and reconnected.
    socketTimeout: 500,
    // redis-refused, redis-crash-cold-restart, redis-reset, cold-start:
    // while disconnected ioredis queues commands (enableOfflineQueue, on by
    // default) and fails them only after maxRetriesPerRequest + 1
    // *reconnection attempts* (not per command), whose delays grow to
    // retryStrategy's 2 s cap during an outage: reads waited 0.1 to 8 s.
    // Without the queue a command fails at once and the database answers.
    enableOfflineQueue: false,
    // Same findings: commands in flight when a connection drops are not
    // re-sent on the next connection; the database is the retry.
    maxRetriesPerRequest: 0,
    // redis-refused, redis-crash-cold-restart: a reconnection attempt every
    // 100 ms x attempt up to 2 s left Redis unused for up to 2 s after it
    // was back; 50 ms x attempt capped at 500 ms finds it sooner.
    retryStrategy: (times: number) => Math.min(times * 50, 500),
    // cold-start: the ready check (INFO) on a blackholed connection would
    // hold the client in "connect"; without it commands are sent as soon
    // as the socket connects and socketTimeout catches a dead one.
    enableReadyCheck: false,
  };
}

export function redisOptions(variant: Variant): RedisOptions {
  return variant === 'hardened' ? hardenedOptions() : seedOptions();
}

/** Counters for AC3 ("logged, counted"), exposed on /metrics. */
export class CacheStats {
  hits = 0;
  misses = 0;
  errors: Record<'get' | 'set' | 'del', number> = { get: 0, set: 0, del: 0 };
  skipped = 0; // hardened: calls not made because the breaker was open
}

export class CacheError extends Error {}

/** What the service needs of a cache. */
export interface Cache {
  /** Returns the cached value, null on a miss; throws CacheError on failure. */
  get<T>(key: string): Promise<T | null>;
  /** get without JSON.parse: the cached JSON text. */
  getRaw(key: string): Promise<string | null>;
  /** Stores value for ttl seconds; errors are logged and swallowed (AC3). */
  set(key: string, value: unknown, ttlSeconds?: number): Promise<void>;
  /** set of JSON text already encoded. */
  setRaw(key: string, json: string, ttlSeconds?: number): Promise<void>;
  /** Deletes keys; returns false (logged, counted) when Redis failed. */
  del(...keys: string[]): Promise<boolean>;
  readonly stats: CacheStats;
  /** "ready" when the client has a working connection. */
  state(): string;
  close(): Promise<void>;
}

/**
 * RedisCacheAdapter is the story's adapter: one ioredis client, JSON
 * values, setex with the TTL (AC7), a get error is a miss for the caller
 * (the service catches CacheError and reads the database), set and delete
 * errors logged and swallowed (AC3).
 */
export class RedisCacheAdapter implements Cache {
  readonly client: Redis;
  readonly stats = new CacheStats();
  private readonly breaker?: CircuitBreaker<[() => Promise<unknown>], unknown>;

  constructor(
    url: string,
    options: RedisOptions,
    private readonly log: Logger,
    breaker = false,
  ) {
    this.client = new Redis(url, options); // AC16: REDIS_URL, AC5: connects now
    this.client.on('error', (err) => this.log.warn('redis connection error', { err: errText(err) })); // AC3: logged
    this.client.on('ready', () => this.log.info('redis ready'));
    if (breaker) {
      // hardened — redis-blackhole, redis-latency, redis-outage: even with a
      // 25 ms command timeout, a read that pays it for GET and again for SET
      // is over the 50 ms p95. A breaker (opossum) opens after half of at
      // least 20 calls in 1 s failed and skips Redis for 1 s; then one probe.
      this.breaker = new CircuitBreaker((fn: () => Promise<unknown>) => fn(), {
        timeout: false, // the client's commandTimeout is the timeout
        errorThresholdPercentage: 50,
        volumeThreshold: 20,
        rollingCountTimeout: 1000,
        rollingCountBuckets: 10,
        resetTimeout: 1000,
      });
      this.breaker.on('open', () => this.log.warn('redis circuit open'));
      this.breaker.on('close', () => this.log.info('redis circuit closed'));
    }
  }

  private call<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.breaker) return fn();
    return this.breaker.fire(fn) as Promise<T>;
  }

  /** Whether a call would be refused without reaching Redis. */
  open(): boolean {
    return this.breaker?.opened ?? false;
  }

  async get<T>(key: string): Promise<T | null> {
    const raw = await this.getRaw(key);
    return raw === null ? null : (JSON.parse(raw) as T);
  }

  // Not in the story's adapter, whose get parses: a hit is passed on as the
  // JSON text Redis holds (a 100-flag list costs ~0.2 ms of CPU to parse and
  // encode again, 12 % of a core at the suite's 570 lists/s on a machine of
  // 2 shared cores). Both variants read through it; the cache's behaviour
  // is unchanged.
  async getRaw(key: string): Promise<string | null> {
    try {
      const raw = await this.call(() => this.client.get(key));
      if (raw === null || raw === undefined) {
        this.stats.misses++;
        return null;
      }
      this.stats.hits++;
      return raw as string;
    } catch (err) {
      if (this.count(err, 'get')) this.log.warn('cache get failed', { op: 'get', key, err: errText(err) }); // AC3: logged
      throw new CacheError(errText(err));
    }
  }

  async set(key: string, value: unknown, ttlSeconds = CACHE_TTL_SECONDS): Promise<void> {
    return this.setRaw(key, JSON.stringify(value), ttlSeconds);
  }

  async setRaw(key: string, json: string, ttlSeconds = CACHE_TTL_SECONDS): Promise<void> {
    try {
      await this.call(() => this.client.setex(key, ttlSeconds, json)); // AC7
    } catch (err) {
      if (this.count(err, 'set')) this.log.warn('cache set failed', { op: 'set', key, err: errText(err) }); // AC3: logged, swallowed
    }
  }

  async del(...keys: string[]): Promise<boolean> {
    try {
      await this.call(() => this.client.del(...keys));
      return true;
    } catch (err) {
      if (this.count(err, 'del')) this.log.warn('cache delete failed', { op: 'del', keys, err: errText(err) }); // AC3: logged, swallowed
      return false;
    }
  }

  /** count counts a failure (AC3) and says whether to log it: a call the open breaker refused is only counted. */
  private count(err: unknown, op: 'get' | 'set' | 'del'): boolean {
    this.stats.errors[op]++;
    if (this.breaker && (err as { code?: string })?.code === 'EOPENBREAKER') {
      this.stats.skipped++;
      return false;
    }
    return true;
  }

  state(): string {
    return this.client.status;
  }

  async close(): Promise<void> {
    this.breaker?.shutdown();
    this.client.disconnect();
  }
}
