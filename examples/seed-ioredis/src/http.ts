// A minimal HTTP layer on node:http: the target contract's five answers
// (docs/target-contract.md v1) plus /healthz and /metrics.
//
//   GET   /readyz                                  200 once PostgreSQL answers (Redis never matters)
//   GET   /healthz                                 200 while the process runs
//   GET   /metrics                                 Prometheus text: cache counters (AC3)
//   GET   /api/config/flags?environment=E          200 {"flags": [...]}
//   GET   /api/config/flags/{key}?environment=E    200 flag, 404 FLAG_NOT_FOUND
//   PATCH /api/config/flags/{key}?environment=E    Bearer ADMIN_TOKEN; 200 flag as written, 400, 401, 404
//
// Errors are {"error": "...", "code": "..."}; a 5xx never carries internal
// error text. Every flag answer carries X-Flag-Source.

import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { FlagService, UnavailableError } from './service';
import { Cache } from './cache';
import { FlagPatch } from './store';
import { Logger, errText } from './log';

export interface HTTPDeps {
  service: FlagService;
  cache: Cache | null;
  adminToken: string;
  ping: () => Promise<void>;
  log: Logger;
  variant: string;
}

const maxBody = 64 * 1024;
const flagsPrefix = '/api/config/flags';

class HTTPError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, source?: string, raw?: string): void {
  const data = raw ?? JSON.stringify(body);
  const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) };
  if (source) headers['X-Flag-Source'] = source;
  res.writeHead(status, headers);
  res.end(data);
}

function authorized(header: string | undefined, token: string): boolean {
  if (token === '' || !header || !header.startsWith('Bearer ')) return false;
  const got = Buffer.from(header.slice('Bearer '.length));
  const want = Buffer.from(token);
  return got.length === want.length && timingSafeEqual(got, want);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBody) {
        reject(new HTTPError(413, 'BODY_TOO_LARGE', `body over ${maxBody} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** decodePatch checks a PATCH body: enabled (boolean), rolloutPercentage (0..100), description (string). */
export function decodePatch(raw: string): FlagPatch {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new HTTPError(400, 'INVALID_BODY', 'body is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new HTTPError(400, 'INVALID_BODY', 'body must be a JSON object');
  }
  const o = v as Record<string, unknown>;
  const patch: FlagPatch = {};
  for (const [k, val] of Object.entries(o)) {
    switch (k) {
      case 'enabled':
        if (typeof val !== 'boolean') throw new HTTPError(400, 'INVALID_BODY', 'enabled must be a boolean');
        patch.enabled = val;
        break;
      case 'rolloutPercentage':
        if (typeof val !== 'number' || !Number.isInteger(val) || val < 0 || val > 100) {
          throw new HTTPError(400, 'INVALID_BODY', 'rolloutPercentage must be an integer from 0 to 100');
        }
        patch.rolloutPercentage = val;
        break;
      case 'description':
        if (typeof val !== 'string' || val.length > 1000) throw new HTTPError(400, 'INVALID_BODY', 'description must be a string (at most 1000 characters)');
        patch.description = val;
        break;
      default:
        throw new HTTPError(400, 'INVALID_BODY', `unknown field ${JSON.stringify(k).slice(0, 40)}`);
    }
  }
  if (Object.keys(patch).length === 0) throw new HTTPError(400, 'INVALID_BODY', 'nothing to update');
  return patch;
}

const validName = /^[A-Za-z0-9_.-]{1,100}$/;

export function newServer(d: HTTPDeps): http.Server {
  const metrics = (): string => {
    const s = d.cache?.stats;
    const lines = [
      '# HELP seed_ioredis_cache_requests_total Cache reads by result (AC3: errors are counted).',
      '# TYPE seed_ioredis_cache_requests_total counter',
      `seed_ioredis_cache_requests_total{result="hit"} ${s?.hits ?? 0}`,
      `seed_ioredis_cache_requests_total{result="miss"} ${s?.misses ?? 0}`,
      '# HELP seed_ioredis_cache_errors_total Cache errors by operation, logged and swallowed (AC3).',
      '# TYPE seed_ioredis_cache_errors_total counter',
      ...(['get', 'set', 'del'] as const).map((op) => `seed_ioredis_cache_errors_total{op="${op}"} ${s?.errors[op] ?? 0}`),
      '# HELP seed_ioredis_pending_invalidations Keys whose DEL has not reached Redis yet (hardened).',
      '# TYPE seed_ioredis_pending_invalidations gauge',
      `seed_ioredis_pending_invalidations ${d.service.pendingInvalidations()}`,
    ];
    return lines.join('\n') + '\n';
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/healthz') return send(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const cache = d.cache ? d.cache.state() : 'none';
      try {
        await d.ping();
        return send(res, 200, { status: 'ready', database: 'up', cache, variant: d.variant });
      } catch {
        return send(res, 503, { status: 'unavailable', database: 'down', cache, variant: d.variant });
      }
    }
    if (path === '/metrics') {
      const body = metrics();
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (path !== flagsPrefix && !path.startsWith(flagsPrefix + '/')) {
      throw new HTTPError(404, 'NOT_FOUND', 'no such route');
    }
    const environment = url.searchParams.get('environment') ?? '';
    if (!validName.test(environment)) throw new HTTPError(400, 'INVALID_ENVIRONMENT', 'environment is required');
    const rest = path.slice(flagsPrefix.length + 1);
    if (path === flagsPrefix) {
      if (req.method !== 'GET') throw new HTTPError(405, 'METHOD_NOT_ALLOWED', 'GET only');
      const r = await d.service.getFlags(environment);
      return send(res, 200, null, r.source, '{"flags":' + r.json + '}');
    }
    let key: string;
    try {
      key = decodeURIComponent(rest);
    } catch {
      throw new HTTPError(400, 'INVALID_KEY', 'bad flag key');
    }
    if (!validName.test(key)) throw new HTTPError(400, 'INVALID_KEY', 'bad flag key');
    if (req.method === 'GET') {
      const r = await d.service.getFlag(environment, key);
      if (r.json === null) throw new HTTPError(404, 'FLAG_NOT_FOUND', 'flag not found');
      return send(res, 200, null, r.source, r.json);
    }
    if (req.method === 'PATCH') {
      if (!authorized(req.headers.authorization, d.adminToken)) {
        throw new HTTPError(401, 'UNAUTHORIZED', 'a valid bearer token is required');
      }
      const patch = decodePatch(await readBody(req));
      const flag = await d.service.updateFlag(environment, key, patch);
      if (flag === null) throw new HTTPError(404, 'FLAG_NOT_FOUND', 'flag not found');
      return send(res, 200, flag);
    }
    throw new HTTPError(405, 'METHOD_NOT_ALLOWED', 'GET or PATCH');
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HTTPError) return send(res, err.status, { error: err.message, code: err.code });
      if (err instanceof UnavailableError) {
        d.log.warn('database unavailable', { route: req.method, err: err.message });
        return send(res, 503, { error: 'service unavailable', code: 'UNAVAILABLE' });
      }
      d.log.error('internal error', { err: errText(err) });
      return send(res, 500, { error: 'internal error', code: 'INTERNAL' });
    });
  });
  // Longer than any client's idle pool: no request lands on a closing connection.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}
