// Test helpers: a real redis-server on a free loopback port and a fresh
// PostgreSQL database, both started or created by the test and removed
// after it. No fixed ports; waits poll with a deadline.
//
// PostgreSQL, in order: $FLAGSTORM_TEST_DATABASE_URL (a server whose user
// may create databases), else the local server on 127.0.0.1:5432 as user
// postgres. Without either the database tests are skipped with a message,
// except in CI (CI set): there they fail.

import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** freePort returns a loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** poll calls cond until it returns true or the deadline passes. */
export async function poll(what: string, timeoutMs: number, cond: () => Promise<boolean> | boolean, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await cond()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${last})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        s.destroy();
        resolve(buf.startsWith('+PONG'));
      }
    });
  });
}

/** RedisServer is a redis-server process of the test's own. */
export class RedisServer {
  private proc?: ChildProcess;
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), 'seed-ioredis-test-'));
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  static async start(): Promise<RedisServer> {
    const r = new RedisServer(await freePort());
    await r.start();
    return r;
  }

  async start(): Promise<void> {
    const proc = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'no'],
      { stdio: 'ignore' },
    );
    this.proc = proc;
    const failed = new Promise<never>((_, reject) => proc.once('error', (err) => reject(new Error(`redis-server: ${err.message} (apt-get install -y redis-server)`))));
    await Promise.race([poll(`redis-server on ${this.port} answers PING`, 10_000, () => ping(this.port)), failed]);
  }

  /** kill stops the server at once (SIGKILL) and waits for it to exit. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((resolve) => p.once('exit', resolve));
    p.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const localAdminURL = 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable';

/** A fresh database for one test file, or a reason to skip. */
export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

async function probe(url: string): Promise<void> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  await c.connect();
  await c.end();
}

/**
 * freshDatabase creates a database with a random name; the string it
 * returns instead is why none could be created (the caller skips, or fails
 * in CI).
 */
export async function freshDatabase(): Promise<TestDatabase | string> {
  const admin = process.env.FLAGSTORM_TEST_DATABASE_URL || localAdminURL;
  try {
    await probe(admin);
  } catch (err) {
    const why = `no PostgreSQL for the database tests: ${process.env.FLAGSTORM_TEST_DATABASE_URL ? '$FLAGSTORM_TEST_DATABASE_URL' : '127.0.0.1:5432 as postgres'}: ${(err as Error).message}`;
    if (process.env.CI || process.env.FLAGSTORM_TEST_DATABASE_URL) throw new Error(why);
    return why;
  }
  const name = 'flagstorm_test_seedioredis_' + randomBytes(8).toString('hex');
  const exec = async (sql: string) => {
    const c = new Client({ connectionString: admin, connectionTimeoutMillis: 5000 });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await exec(`CREATE DATABASE ${name} TEMPLATE template0`);
  const u = new URL(admin);
  u.pathname = '/' + name;
  return { url: u.toString(), drop: () => exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** A small HTTP client for the tests. */
export async function request(
  base: string,
  method: string,
  p: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; source: string | null; body: any }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(20_000) });
  const text = await res.text();
  return { status: res.status, source: res.headers.get('x-flag-source'), body: text ? JSON.parse(text) : null };
}
