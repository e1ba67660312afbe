package k6

// scriptImports are the script's imports: k6's own modules only, no
// extension. https://grafana.com/docs/k6/latest/javascript-api/
const scriptImports = `
import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { Gauge } from 'k6/metrics';
`

// scriptBody is the script's code. The phase of a request is computed
// from its scenario's own start (exec.scenario.startTime, Unix
// milliseconds: https://grafana.com/docs/k6/latest/javascript-api/k6-execution/),
// minus the scenario's startTime, which is the run's zero whatever
// setup() took; the test's clock starts before setup(). Statuses that
// count as success are http.expectedStatuses, per request
// (https://grafana.com/docs/k6/latest/javascript-api/k6-http/expected-statuses/).
const scriptBody = `
const BASE_URLS = (__ENV.BASE_URL || SPEC.baseURL).split(',').map((u) => u.trim().replace(/\/+$/, '')).filter((u) => u !== '');
const ADMIN_TOKEN = __ENV.ADMIN_TOKEN || '';
const TOXIPROXY_URL = (__ENV.TOXIPROXY_URL || SPEC.toxiproxyURL).replace(/\/+$/, '');

// The run's zero, once per VU, so that flagstorm judge places the
// per-second data and the phases exactly.
const runStart = new Gauge('` + RunStartMetric + `');
let marked = false;
let nonces = 0;

const CALLBACKS = SPEC.requests.map((r) => (r.expect.length > 0 ? http.expectedStatuses(...r.expect) : null));

function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}

function drawFrom(pool) {
  if (pool.values) {
    return pick(pool.values);
  }
  const i = String(Math.floor(Math.random() * pool.count));
  return pool.prefix + (i.length < pool.pad ? '0'.repeat(pool.pad - i.length) + i : i);
}

// phaseAt names the phase at ms milliseconds from the run's start, or ''
// (before the run, or in a gap after a phase's for:).
export function phaseAt(ms) {
  for (let i = SPEC.phases.length - 1; i >= 0; i--) {
    const p = SPEC.phases[i];
    if (ms >= p.start && (p.end === null || ms < p.end)) {
      return p.name;
    }
  }
  return '';
}

// expand fills a template's placeholders, each drawn once per request.
export function expand(tmpl, drawn) {
  return tmpl.replace(/\{\{(env|flag|user|bool|pct|nonce)\}\}/g, (_, name) => drawn[name]);
}

function draw() {
  nonces++;
  return {
    env: pick(SPEC.pools.env.values),
    flag: drawFrom(SPEC.pools.flag),
    user: drawFrom(SPEC.pools.user),
    bool: Math.random() < 0.5 ? 'true' : 'false',
    pct: String(Math.floor(Math.random() * 101)),
    nonce: 'fs-k6-' + exec.vu.idInTest + '-' + nonces,
  };
}

function chooseRequest(scenario) {
  const mix = SPEC.mixes[scenario];
  let total = 0;
  for (const i of mix) {
    total += SPEC.requests[i].weight;
  }
  let n = Math.random() * total;
  for (const i of mix) {
    n -= SPEC.requests[i].weight;
    if (n < 0) {
      return i;
    }
  }
  return mix[mix.length - 1];
}

function expected(r, status) {
  if (r.expect.length > 0) {
    return r.expect.indexOf(status) >= 0;
  }
  return status >= 200 && status <= 399;
}

// load is every load scenario's iteration: one request of its mix.
export function load() {
  const scenario = exec.scenario.name;
  const zero = exec.scenario.startTime - SPEC.offsets[scenario];
  if (!marked) {
    runStart.add(zero);
    marked = true;
  }
  const i = chooseRequest(scenario);
  const r = SPEC.requests[i];
  const tags = { name: r.name };
  const phase = phaseAt(Date.now() - zero);
  if (phase !== '') {
    tags.phase = phase;
  }
  const drawn = draw();
  const headers = {};
  for (const k of Object.keys(r.headers)) {
    headers[k] = expand(r.headers[k], drawn);
  }
  if (r.auth && ADMIN_TOKEN !== '' && headers.Authorization === undefined) {
    headers.Authorization = 'Bearer ' + ADMIN_TOKEN;
  }
  const params = { headers: headers, tags: tags, timeout: SPEC.timeout };
  if (CALLBACKS[i] !== null) {
    params.responseCallback = CALLBACKS[i];
  }
  const body = r.body === null ? null : expand(r.body, drawn);
  const res = http.request(r.method, pick(BASE_URLS) + expand(r.path, drawn), body, params);
  check(res, { 'expected status': (x) => expected(r, x.status) }, tags);
}

function toxiproxy(call, step, phase, missingOK) {
  const tags = { ` + TagTraffic + `: '` + TrafficControl + `', ` + TagStep + `: step };
  if (phase !== '') {
    tags.phase = phase;
  }
  const body = call.body === null || call.body === undefined ? null : JSON.stringify(call.body);
  const ok = missingOK ? http.expectedStatuses({ min: 200, max: 299 }, 404) : http.expectedStatuses({ min: 200, max: 299 });
  const res = http.request(call.method, TOXIPROXY_URL + call.path, body, {
    headers: { 'Content-Type': 'application/json', 'User-Agent': 'flagstorm-k6' },
    tags: tags,
    responseCallback: ok,
  });
  if ((res.status < 200 || res.status > 299) && !(missingOK && res.status === 404)) {
    console.error('toxiproxy ' + call.method + ' ' + call.path + ' (' + step + ' ' + phase + '): HTTP ' + res.status + ' ' + res.body);
  }
}

// undo removes what the timeline adds and nothing else: its own toxics,
// by name, and the proxies it disables. The Toxiproxy may be shared:
// everyone else's faults stay (a toxic already gone is fine).
function undo() {
  for (const s of SPEC.control) {
    if (s.step === 'remove') {
      for (const c of s.calls) {
        toxiproxy(c, 'reset', '', true);
      }
    }
  }
}

// setup and teardown undo the timeline's faults: none left from a killed
// run of this script before the run, none left after it, whatever
// happened.
export function setup() {
  undo();
}

export function teardown() {
  undo();
}

// control is the fault timeline: one VU, one iteration, applying and
// removing each phase's fault at its time from the run's start.
export function control() {
  const zero = exec.scenario.startTime;
  for (const s of SPEC.control) {
    const wait = zero + s.at - Date.now();
    if (wait > 0) {
      sleep(wait / 1000);
    }
    for (const c of s.calls) {
      toxiproxy(c, s.step, s.phase, false);
    }
  }
}
`
