package dashboards

import "strings"

// sel puts a dashboard's label matchers into a PromQL selector template:
// sel("m{op=\"get\"}", fs) -> m{op="get",job=~"$job",instance=~"$instance"}.
func sel(metric, matchers string) string {
	name, rest, ok := strings.Cut(metric, "{")
	if !ok {
		return metric + "{" + matchers + "}"
	}
	return name + "{" + strings.TrimSuffix(rest, "}") + "," + matchers + "}"
}

const (
	fsMatch = `job=~"$job",instance=~"$instance"`
	fsJob   = `job=~"$job"`
	stMatch = `spec=~"$spec"`
	rate    = "[$__rate_interval]"
)

func fsSel(metric string) string { return sel(metric, fsMatch) }
func st(metric string) string    { return sel(metric, stMatch) }

// flagserverDashboard shows one or more flagserver instances: traffic and
// latency by route, the SLOs, the Redis cache and its circuit breaker, the
// database fallback, the go-redis pool and pending invalidations.
func flagserverDashboard() dashboard {
	reqs := fsSel("flagserver_http_requests_total")
	buckets := fsSel("flagserver_http_request_duration_seconds_bucket")
	cacheOps := fsSel("flagserver_cache_operations_total")
	return dashboard{
		File: "flagserver.json", UID: "flagserver", Title: "flagserver",
		Description: "The reference flag server: HTTP traffic and latency by route, SLO burn, Redis cache results, circuit breaker, database fallbacks, connection pool and pending invalidations.",
		Tags:        []string{"flagstorm", "flagserver"},
		Variables: []variable{
			{Name: "job", Label: "Job", Query: "label_values(flagserver_build_info, job)"},
			{Name: "instance", Label: "Instance", Query: `label_values(flagserver_build_info{job=~"$job"}, instance)`},
		},
		Panels: []panel{
			{Type: "row", Title: "Traffic"},
			{Title: "Requests per second by route", Unit: "reqps", Stack: true,
				Description: "Answered HTTP requests per second, by route pattern (flagserver_http_requests_total).",
				Targets:     []target{{Expr: "sum by (route) (rate(" + reqs + rate + "))", Legend: "{{route}}"}}},
			{Title: "Responses per second by status code", Unit: "reqps", Stack: true,
				Description: "412 is an update's version conflict and 404 an unknown flag: answers, not errors. 5xx count against the availability SLO.",
				Targets:     []target{{Expr: "sum by (code) (rate(" + reqs + rate + "))", Legend: "{{code}}"}}},
			{Title: "p95 latency by route", Unit: "s",
				Description: "95th percentile of the time from routing to the handler's return, by route (histogram_quantile over flagserver_http_request_duration_seconds).",
				Targets:     []target{{Expr: "histogram_quantile(0.95, sum by (route, le) (rate(" + buckets + rate + ")))", Legend: "{{route}}"}}},
			{Title: "p99 latency by route", Unit: "s",
				Description: "99th percentile by route. Bucket edges: 5, 10, 25, 50, 100, 250 ms ...: a quantile is interpolated inside its bucket.",
				Targets:     []target{{Expr: "histogram_quantile(0.99, sum by (route, le) (rate(" + buckets + rate + ")))", Legend: "{{route}}"}}},
			{Title: "Requests in flight", W: 8, Unit: "short",
				Description: "Requests being served right now, per instance.",
				Targets:     []target{{Expr: "sum by (instance) (" + fsSel("flagserver_http_requests_in_flight") + ")", Legend: "{{instance}}"}}},
			{Title: "Build and profile", W: 16, Type: "table",
				Description: "flagserver_build_info: version, Go version and cache profile (hardened or seed) of each instance.",
				Targets:     []target{{Expr: fsSel("flagserver_build_info"), Instant: true}}},

			{Type: "row", Title: "Service level objectives (recording rules, dashboards/prometheus/rules)"},
			{Title: "5xx ratio of API requests (availability SLO 99.9 %)", Unit: "percentunit", W: 8, Min: f(0),
				Description: "Share of /api requests answered with a 5xx over 5 m and 1 h. The budget is 0.1 %; the fast-burn page fires at 1.44 % over both 1 h and 5 m.",
				Targets: []target{
					{Expr: sel("job:flagserver_slo_errors:ratio_rate5m", fsJob), Legend: "{{job}} 5m"},
					{Expr: sel("job:flagserver_slo_errors:ratio_rate1h", fsJob), Legend: "{{job}} 1h"},
				}},
			{Title: "Reads slower than 100 ms (latency SLO 99 %)", Unit: "percentunit", W: 8, Min: f(0),
				Description: "Share of GET /api requests slower than 100 ms over 5 m and 1 h. The budget is 1 %; the fast-burn page fires at 14.4 % over both.",
				Targets: []target{
					{Expr: sel("job:flagserver_slo_slow_reads:ratio_rate5m", fsJob), Legend: "{{job}} 5m"},
					{Expr: sel("job:flagserver_slo_slow_reads:ratio_rate1h", fsJob), Legend: "{{job}} 1h"},
				}},
			{Title: "Error budget burn rate (1 h)", W: 8, Unit: "x", Min: f(0),
				Description: "How many times faster than sustainable each budget burns over the last hour: 1 spends exactly the month's budget in a month; 14.4 pages (with the 5 m window), 6 tickets (over 6 h and 30 m).",
				Targets: []target{
					{Expr: sel("job:flagserver_slo_errors:ratio_rate1h", fsJob) + " / 0.001", Legend: "{{job}} availability"},
					{Expr: sel("job:flagserver_slo_slow_reads:ratio_rate1h", fsJob) + " / 0.01", Legend: "{{job}} latency"},
				}},

			{Type: "row", Title: "Redis cache"},
			{Title: "Cache GETs per second by result", Unit: "ops", Stack: true,
				Description: "hit, miss (key not in Redis), error (timeout, refused, reset) and rejected (the circuit breaker did not call Redis).",
				Targets:     []target{{Expr: "sum by (result) (rate(" + sel(cacheOps, `op="get"`) + rate + "))", Legend: "{{result}}"}}},
			{Title: "Cache GET result ratios", Unit: "percentunit", Min: f(0), Max: f(1),
				Description: "Share of cache GETs by result over 5 m (recording rule job_result:flagserver_cache_gets:ratio_rate5m).",
				Targets:     []target{{Expr: sel("job_result:flagserver_cache_gets:ratio_rate5m", fsJob), Legend: "{{job}} {{result}}"}}},
			{Title: "Cache errors by operation", Unit: "ops", W: 8,
				Description: "Failed and rejected cache operations per second, by operation (get, set, delete) and result.",
				Targets:     []target{{Expr: "sum by (op, result) (rate(" + sel(cacheOps, `result=~"error|rejected"`) + rate + "))", Legend: "{{op}} {{result}}"}}},
			{Title: "Cache operation p99 (with retries)", Unit: "s", W: 8,
				Description: "99th percentile of a cache operation including go-redis's retries, by operation.",
				Targets:     []target{{Expr: "histogram_quantile(0.99, sum by (op, le) (rate(" + fsSel("flagserver_cache_operation_duration_seconds_bucket") + rate + ")))", Legend: "{{op}}"}}},
			{Title: "Retries per second by operation", Unit: "ops", W: 8,
				Description: "Retried Redis commands (flagserver_cache_retries_total): retry amplification under a fault.",
				Targets:     []target{{Expr: "sum by (op) (rate(" + fsSel("flagserver_cache_retries_total") + rate + "))", Legend: "{{op}}"}}},
			{Title: "Circuit breaker state", Type: "state-timeline", W: 16, H: 6,
				Description: "flagserver_cache_circuit_state per instance: closed, half-open or open (always closed without a breaker, as in the seed profile).",
				Mappings:    []valueMapping{{"0", "closed", "green"}, {"1", "half-open", "yellow"}, {"2", "open", "red"}},
				Thresholds:  []step{{nil, "green"}, {f(1), "yellow"}, {f(2), "red"}},
				Targets:     []target{{Expr: "max by (instance) (" + fsSel("flagserver_cache_circuit_state") + ")", Legend: "{{instance}}"}}},
			{Title: "Redis up (health-check PING)", Type: "state-timeline", W: 8, H: 6,
				Description: "flagserver_cache_up: 1 if the last health-check PING succeeded.",
				Mappings:    []valueMapping{{"0", "down", "red"}, {"1", "up", "green"}},
				Thresholds:  []step{{nil, "red"}, {f(1), "green"}},
				Targets:     []target{{Expr: "min by (instance) (" + fsSel("flagserver_cache_up") + ")", Legend: "{{instance}}"}}},

			{Type: "row", Title: "Reads and database fallback"},
			{Title: "Reads per second by source", Unit: "ops", Stack: true,
				Description: "Where answered reads came from (the X-Flag-Source header): redis, db (cache miss), db-fallback (Redis failed or circuit open), memory (in-process copy), stale (database failed too, expired copy served).",
				Targets:     []target{{Expr: "sum by (source) (rate(" + fsSel("flagserver_reads_total") + rate + "))", Legend: "{{source}}"}}},
			{Title: "Database reads per second by reason", Unit: "ops", Stack: true,
				Description: "Why reads went to the database: miss, cache_error, circuit_open, pending_invalidation, no_cache (flagserver_db_fallbacks_total).",
				Targets:     []target{{Expr: "sum by (reason) (rate(" + fsSel("flagserver_db_fallbacks_total") + rate + "))", Legend: "{{reason}}"}}},
			{Title: "Database fallback ratio", Unit: "percentunit", W: 8, Min: f(0),
				Description: "Share of reads answered from the database because Redis failed or its circuit was open, over 5 m (job:flagserver_db_fallback_reads:ratio_rate5m).",
				Targets:     []target{{Expr: sel("job:flagserver_db_fallback_reads:ratio_rate5m", fsJob), Legend: "{{job}}"}}},
			{Title: "Database errors per second by operation", Unit: "ops", W: 8,
				Description: "Failed PostgreSQL operations (get, list, update): flagserver_store_errors_total.",
				Targets:     []target{{Expr: "sum by (op) (rate(" + fsSel("flagserver_store_errors_total") + rate + "))", Legend: "{{op}}"}}},
			{Title: "Pending invalidations", Unit: "short", W: 8,
				Description: "Keys whose DEL after an update failed and is being retried (reads of them bypass Redis), and failed DEL attempts per second.",
				Targets: []target{
					{Expr: "sum by (instance) (" + fsSel("flagserver_invalidations_pending") + ")", Legend: "{{instance}} pending"},
					{Expr: "sum by (instance) (rate(" + fsSel("flagserver_invalidation_failures_total") + rate + "))", Legend: "{{instance}} failed DELs/s"},
				}},

			{Type: "row", Title: "go-redis connection pool"},
			{Title: "Pool connections by state", Unit: "short", Stack: true,
				Description: "Connections in the go-redis pool: idle and in use (flagserver_redis_pool_connections).",
				Targets:     []target{{Expr: "sum by (instance, state) (" + fsSel("flagserver_redis_pool_connections") + ")", Legend: "{{instance}} {{state}}"}}},
			{Title: "Pool events per second", Unit: "ops",
				Description: "hit (a free connection reused), miss (a new one dialled: reconnect storms show here), timeout (no connection within PoolTimeout), stale (closed as too old or idle).",
				Targets:     []target{{Expr: "sum by (event) (rate(" + fsSel("flagserver_redis_pool_events_total") + rate + "))", Legend: "{{event}}"}}},

			{Type: "row", Title: "Database connection pool"},
			{Title: "Database pool connections", Unit: "short",
				Description: "Connections in the database pool, idle and in use, and its size (flagserver_db_pool_connections, flagserver_db_pool_max_connections). In use at the size means queries wait: a slow database needs a larger pool (DATABASE_MAX_CONNS).",
				Targets: []target{
					{Expr: "sum by (instance, state) (" + fsSel("flagserver_db_pool_connections") + ")", Legend: "{{instance}} {{state}}"},
					{Expr: "sum by (instance) (" + fsSel("flagserver_db_pool_max_connections") + ")", Legend: "{{instance}} max"},
				}},
			{Title: "Waits for a database connection", Unit: "s",
				Description: "Average wait of the queries that found no free connection, and how many per second (flagserver_db_pool_wait_seconds_total, flagserver_db_pool_waits_total). A query that waits more than 2 s in all fails.",
				Targets: []target{
					{Expr: "sum by (instance) (rate(" + fsSel("flagserver_db_pool_wait_seconds_total") + rate + ")) / clamp_min(sum by (instance) (rate(" + fsSel("flagserver_db_pool_waits_total") + rate + ")), 1e-9)", Legend: "{{instance}} average wait"},
				}},
			{Title: "Queries waiting for a connection per second", Unit: "ops",
				Description: "Queries per second that found every database connection in use (flagserver_db_pool_waits_total).",
				Targets:     []target{{Expr: "sum by (instance) (rate(" + fsSel("flagserver_db_pool_waits_total") + rate + "))", Legend: "{{instance}}"}}},
		},
	}
}

// flagstormDashboard shows flagstorm runs: load and latency by phase and
// source, failures, stale reads, the faults of the timeline and the
// thresholds' verdicts. Live series come from the run's --metrics-addr;
// verdicts, run info and (for local-stack runs) faults and stale reads
// arrive with the --push-gateway push at the end of the run.
func flagstormDashboard() dashboard {
	reqs := st("flagstorm_http_requests_total")
	buckets := st("flagstorm_http_request_duration_seconds_bucket")
	return dashboard{
		File: "flagstorm.json", UID: "flagstorm-runs", Title: "flagstorm runs",
		Description: "Load-test runs: requests and latency by phase, source and request, failures, stale reads, faults (as annotations and a timeline) and threshold verdicts.",
		Tags:        []string{"flagstorm"},
		Variables: []variable{
			{Name: "spec", Label: "Spec", Query: "label_values(flagstorm_http_requests_total, spec)"},
		},
		Annotations: []annotation{{
			Name: "Faults", Color: "red", TagKeys: "spec,phase,proxy,type",
			Expr:  "max by (spec, phase, proxy, type) (" + st("flagstorm_fault_active") + ")",
			Title: "{{type}} on {{proxy}}", Text: "phase {{phase}} of {{spec}}",
		}},
		Panels: []panel{
			{Type: "row", Title: "Load"},
			{Title: "Requests per second by phase", Unit: "reqps", Stack: true,
				Description: "Completed requests per second by timeline phase (flagstorm_http_requests_total). Faults are drawn as red annotations.",
				Targets:     []target{{Expr: "sum by (spec, phase) (rate(" + reqs + rate + "))", Legend: "{{spec}} {{phase}}"}}},
			{Title: "Requests per second by status", Unit: "reqps", Stack: true,
				Description: "By HTTP status; 0 means no response (timeout, refused).",
				Targets:     []target{{Expr: "sum by (status) (rate(" + reqs + rate + "))", Legend: "{{status}}"}}},
			{Title: "Failed requests (no response or 5xx)", Unit: "percentunit", Min: f(0),
				Description: "Share of requests with no response (status 0) or a 5xx, by phase; 0 while every request succeeds.",
				Targets: []target{{Expr: "(sum by (spec, phase) (rate(" + sel(reqs, `status=~"0|5.."`) + rate + ")) or sum by (spec, phase) (rate(" + reqs + rate + ")) * 0)" +
					" / sum by (spec, phase) (rate(" + reqs + rate + "))", Legend: "{{spec}} {{phase}}"}}},
			{Title: "Requests per second by source", Unit: "reqps", Stack: true,
				Description: "By X-Flag-Source: redis, db, db-fallback, memory, stale (none: no header, e.g. a failed request).",
				Targets:     []target{{Expr: "sum by (source) (rate(" + reqs + rate + "))", Legend: "{{source}}"}}},

			{Type: "row", Title: "Latency (from the intended start: no coordinated omission)"},
			{Title: "p95 latency by phase", Unit: "s",
				Targets: []target{{Expr: "histogram_quantile(0.95, sum by (spec, phase, le) (rate(" + buckets + rate + ")))", Legend: "{{spec}} {{phase}}"}}},
			{Title: "p99 latency by phase", Unit: "s",
				Targets: []target{{Expr: "histogram_quantile(0.99, sum by (spec, phase, le) (rate(" + buckets + rate + ")))", Legend: "{{spec}} {{phase}}"}}},
			{Title: "p95 latency by source", Unit: "s",
				Description: "A db-fallback p95 near the redis one is the database fallback doing its job.",
				Targets:     []target{{Expr: "histogram_quantile(0.95, sum by (source, le) (rate(" + buckets + rate + ")))", Legend: "{{source}}"}}},
			{Title: "p95 latency by request", Unit: "s",
				Targets: []target{{Expr: "histogram_quantile(0.95, sum by (name, le) (rate(" + buckets + rate + ")))", Legend: "{{name}}"}}},

			{Type: "row", Title: "Correctness and faults"},
			{Title: "Stale reads per second by phase and source", Unit: "ops", W: 12,
				Description: "Reads that returned a version older than one acknowledged before the read began (flagstorm_stale_reads_total). Runs against the local stack push these at their end.",
				Targets:     []target{{Expr: "sum by (spec, phase, source) (rate(" + st("flagstorm_stale_reads_total") + rate + "))", Legend: "{{spec}} {{phase}} {{source}}"}}},
			{Title: "Stale reads (run total)", Type: "stat", W: 12, Unit: "short",
				Description: "Stale reads counted in the run, by scenario file (spec) and source.",
				Thresholds:  []step{{nil, "green"}, {f(1), "red"}},
				Targets:     []target{{Expr: "sum by (spec, source) (" + st("flagstorm_stale_reads_total") + ")", Legend: "{{spec}} {{source}}", Instant: true}}},
			{Title: "Faults active", Type: "state-timeline", W: 24, H: 6,
				Description: "flagstorm_fault_active: 1 while a timeline fault is applied, by phase, proxy and fault type.",
				Mappings:    []valueMapping{{"0", "off", "transparent"}, {"1", "active", "red"}},
				Thresholds:  []step{{nil, "transparent"}, {f(1), "red"}},
				Targets:     []target{{Expr: "max by (spec, phase, proxy, type) (" + st("flagstorm_fault_active") + ")", Legend: "{{spec}} {{phase}}: {{type}} on {{proxy}}"}}},

			{Type: "row", Title: "Verdicts (pushed at the end of a run)"},
			{Title: "Threshold verdicts", Type: "table", W: 16, H: 10,
				Description: "flagstorm_threshold_passed: 1 passed, 0 failed, -1 no data (a run with a no-data threshold is inconclusive).",
				Mappings:    []valueMapping{{"1", "pass", "green"}, {"0", "FAIL", "red"}, {"-1", "no data", "orange"}},
				Thresholds:  []step{{nil, "orange"}, {f(0), "red"}, {f(1), "green"}},
				Targets:     []target{{Expr: "max by (spec, threshold) (" + st("flagstorm_threshold_passed") + ")", Instant: true}}},
			{Title: "Runs", Type: "table", W: 8, H: 10,
				Description: "flagstorm_run_info: scenario file (spec), profile and overall verdict of each pushed run.",
				Targets:     []target{{Expr: "max by (spec, profile, verdict) (" + st("flagstorm_run_info") + ")", Instant: true}}},
		},
	}
}

// all lists every dashboard this package renders.
func all() []dashboard { return []dashboard{flagserverDashboard(), flagstormDashboard()} }
