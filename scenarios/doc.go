// Package scenarios reads scenario files: one experiment per YAML file,
// with its load shape, request mix, fault timeline and thresholds
// (ARCHITECTURE.md §4). It owns plain data only: the harness maps a
// [Spec] onto its load plan, fault timeline and verdict, so this package
// imports toxics but nothing under harness/.
//
//	name: redis-outage                 # required, [a-z0-9-]+
//	description: Redis blackholes for 20 s; every request still succeeds.
//	profile: hardened                  # hardened | seed | both (default hardened)
//	instances: 1                       # flagserver instances (default 1)
//	memoryCacheTTL: 0s                 # optional: flagserver's MEMORY_CACHE_TTL
//	target: {start: redis-down}        # optional: start the flagservers at this phase (a cold start)
//	load:                              # one executor, k6's option names ...
//	  executor: constant-vus
//	  vus: 50
//	  duration: 60s
//	scenarios:                         # ... or several in parallel (exactly one of the two)
//	  readers: {executor: constant-arrival-rate, rate: 500, timeUnit: 1s, duration: 60s,
//	            preAllocatedVUs: 50, maxVUs: 200, startTime: 0s, requests: [list, get]}
//	requestTimeout: 10s                # per request (default 10s)
//	data:                              # optional pools
//	  environments: [production]       # default development, staging, production
//	  flags: {prefix: flag-, count: 100, pad: 3}  # or a list; default flag-000..flag-099
//	  users: {prefix: user-, count: 10000}        # or a list; default user-0..user-9999
//	requests:                          # weighted mix
//	  - {name: get, weight: 35, method: GET, path: "/api/config/flags/{{flag}}?environment={{env}}"}
//	  - {name: update, weight: 5, method: PATCH, path: "/api/config/flags/{{flag}}?environment={{env}}",
//	     body: '{"enabled": {{bool}}}', headers: {Content-Type: application/json}, expect: [200, 412]}
//	timeline:
//	  - {phase: steady,   at: 0s}
//	  - {phase: outage,   at: 20s, for: 20s, fault: {proxy: redis, type: blackhole}}
//	  - {phase: recovery, at: 40s}
//	thresholds:                        # k6 grammar, plus {phase:...} and {source:...}
//	  "http_req_duration{phase:outage}": ["p(95)<50", "p(99)<100"]
//	  checks: [{threshold: "rate>0.99", abortOnFail: true, delayAbortEval: 10s}]
//	expect:                            # thresholds expected to fail, per profile
//	  seed: ["http_req_duration{phase:outage} p(95)<50"]
//
// # Decoding
//
// Decoding is strict. Unknown keys are errors that name the key, suggest
// the nearest valid one and list them all; keys appear at most once;
// values have their type (a quoted "50" is not a number, 1.5 is not a
// whole number). Durations are Go durations, "20s", "1m30s", "500ms":
// a bare number is an error with a hint ("write 20s"), because k6 reads
// it as milliseconds and people mean seconds. YAML anchors, aliases and
// merge keys (<<: *defaults) work.
//
// Every problem of a file is reported at once: Parse returns errors.Join
// of [*ValidationError], sorted by position and formatted
//
//	redis-outage.yaml:12:5: timeline[1].fault.type: unknown fault type "lag" (want latency, ...)
//
// # Load
//
// The executors are k6's constant-vus (vus, duration), ramping-vus
// (stages, startVUs, gracefulRampDown), constant-arrival-rate (rate,
// duration, preAllocatedVUs; timeUnit, maxVUs) and ramping-arrival-rate
// (stages, preAllocatedVUs; startRate, timeUnit, maxVUs), each with
// gracefulStop. The options in parentheses before the semicolon are
// required; an option of another executor is an error. Absent options get
// k6's defaults, in the harness's convention (zero means the default):
// startVUs 1 (filled in by Parse), timeUnit 1s, maxVUs preAllocatedVUs,
// gracefulStop and gracefulRampDown 30s. An explicit "0s" grace means
// none and is stored as a negative duration. Entries of scenarios: also
// take startTime and requests (the request names the scenario draws
// from, with their weights); load: is one scenario, named "default".
//
// # Requests
//
// Path, body and header values are templates. {{env}}, {{flag}} and
// {{user}} draw from the data pools, {{nonce}} is a token no other
// request of the run has, {{bool}} is true or false and {{pct}}
// a whole percentage; see [AppendExpand]. A lone "}}" is text, so JSON
// bodies need no escaping. expect lists the statuses that count as
// success (default 200 to 399, as in k6).
//
// # Timeline
//
// Phases are in order of at, the first at 0s (explicitly: a timeline
// that starts later is an error, not an implicit phase), all within the
// load's duration. A phase lasts until the next one starts, or for its
// for, which must end by the next phase's at; the last phase also runs
// through the graceful stops. A file without a timeline has one phase,
// steady, over the whole run. A phase may carry a fault on a Toxiproxy
// proxy (redis, redis-replica, postgres; checked by toxics), applied at
// its start and removed at its end, or an action on the Redis primary
// (failover, crash, restart, flush; see [Action]).
//
// target: {start: PHASE} starts the flagservers at the beginning of that
// phase, after its fault is applied, instead of before the run: a cold
// start (the stack seeds the database first). The harness records each
// start's time to ready as target_ready_time, in milliseconds, tagged
// with the phase; a threshold on it needs target.start. Nothing listens
// before the start, so a file usually delays its load past it (startTime).
//
// # Thresholds
//
// A key is a metric of the catalog (package internal/metric: the one
// list of metrics, their kinds, units and tags, and the key grammar) with
// an optional selector of its tags; a selector must match something the
// file defines: a phase of the timeline, a request name, a scenario, a
// method a request uses, a status, or a source (metric.Sources). The
// expressions stay raw
// text: the harness parses them with its verdict grammar and reports
// problems with [Spec.ThresholdError], which places them in the file.
package scenarios
