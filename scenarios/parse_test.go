package scenarios

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flagstorm/flagstorm/toxics"
)

// base is a valid file the error cases edit. Its lines:
//
//	1 name          6 requests      9 timeline      13 thresholds
//	2 load          7 get          10 steady        14 http_req_duration
//	3 executor      8 update       11 outage
//	4 vus                          12 recovery
//	5 duration
const base = `name: test
load:
  executor: constant-vus
  vus: 10
  duration: 60s
requests:
  - {name: get, method: GET, path: "/api/config/flags/{{flag}}?environment={{env}}"}
  - {name: update, weight: 5, method: PATCH, path: "/api/config/flags/{{flag}}?environment={{env}}", body: '{"enabled": {{bool}}}'}
timeline:
  - {phase: steady, at: 0s}
  - {phase: outage, at: 20s, for: 20s, fault: {proxy: redis, type: blackhole}}
  - {phase: recovery, at: 40s}
thresholds:
  http_req_duration: ["p(95)<50"]
`

const requestsBlock = `requests:
  - {name: get, method: GET, path: "/api/config/flags/{{flag}}?environment={{env}}"}
  - {name: update, weight: 5, method: PATCH, path: "/api/config/flags/{{flag}}?environment={{env}}", body: '{"enabled": {{bool}}}'}
`

const loadBlock = `load:
  executor: constant-vus
  vus: 10
  duration: 60s
`

// validationErrors returns the *ValidationError values err joins, failing
// the test on any other error.
func validationErrors(t *testing.T, err error) []*ValidationError {
	t.Helper()
	var out []*ValidationError
	for _, e := range unwrap(err) {
		ve, ok := e.(*ValidationError)
		if !ok {
			t.Fatalf("error %v (%T) is not a *ValidationError", e, e)
		}
		out = append(out, ve)
	}
	return out
}

func edit(t *testing.T, doc, old, new string) string {
	t.Helper()
	if old == "" {
		return doc + new
	}
	if !strings.Contains(doc, old) {
		t.Fatalf("the base file has no %q", old)
	}
	return strings.Replace(doc, old, new, 1)
}

func TestParseBase(t *testing.T) {
	s, err := Parse("test.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration() != 60*time.Second || len(s.Timeline) != 3 || s.Requests[0].Weight != 1 {
		t.Errorf("unexpected spec: %+v", s)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // edit of base; old "" appends new
		field    string
		line     int
		msg      string
	}{
		// top level
		{"name missing", "name: test\n", "", "name", 1, "required"},
		{"name invalid", "name: test", "name: Test_1", "name", 1, `"Test_1" is not a valid name`},
		{"name not a string", "name: test", "name: 42", "name", 1, "want a string, got 42"},
		{"profile unknown", "", "profile: sed\n", "profile", 15, `unknown profile "sed" (want hardened, seed or both)`},
		{"instances zero", "", "instances: 0\n", "instances", 15, "must be >= 1, got 0"},
		{"instances quoted", "", "instances: \"2\"\n", "instances", 15, `want a whole number, got "2"`},
		{"instances fraction", "", "instances: 1.5\n", "instances", 15, "want a whole number, got 1.5"},
		{"memoryCacheTTL negative", "", "memoryCacheTTL: -1s\n", "memoryCacheTTL", 15, "must not be negative"},
		{"requestTimeout zero", "", "requestTimeout: 0s\n", "requestTimeout", 15, "must be > 0"},
		{"requestTimeout bare number", "", "requestTimeout: 10\n", "requestTimeout", 15, "bare number 10 is not a duration: give it a unit, write 10s"},
		{"duration quoted bare number", "duration: 60s", `duration: "60"`, "load.duration", 5, "write 60s"},
		{"duration fraction", "duration: 60s", "duration: 1.5", "load.duration", 5, "write 1.5s"},
		{"duration unit unknown", "duration: 60s", "duration: 1d", "load.duration", 5, `"1d" is not a duration: write one such as 20s, 1m30s or 500ms`},
		{"duration null", "duration: 60s", "duration:", "load.duration", 5, "no value"},
		{"duplicate key", "", "name: again\n", "name", 15, `key "name" appears twice (first on line 1)`},
		{"unknown top key", "", "vus: 10\n", "vus", 15, `unknown key "vus" (valid keys: name, description, profile`},
		{"top key misspelt", "", "treshold: {}\n", "treshold", 15, "did you mean thresholds?"},

		// load and scenarios
		{"load and scenarios", "", "scenarios: {a: {executor: constant-vus, vus: 1, duration: 1s}}\n", "scenarios", 15, "either load: (one executor) or scenarios:"},
		{"no load", loadBlock, "", "load", 1, "required: the load's shape"},
		{"load not a mapping", loadBlock, "load: constant-vus\n", "load", 2, `want a mapping (key: value), got "constant-vus"`},
		{"executor missing", "  executor: constant-vus\n", "", "load.executor", 3, "required: want constant-vus, ramping-vus"},
		{"executor unknown", "executor: constant-vus", "executor: constant-vu", "load.executor", 3, `unknown executor "constant-vu"`},
		{"executor unsupported", "executor: constant-vus", "executor: shared-iterations", "load.executor", 3, "is not supported"},
		{"vus missing", "  vus: 10\n", "", "load.vus", 3, "required by constant-vus"},
		{"vus zero", "vus: 10", "vus: 0", "load.vus", 4, "must be > 0, got 0"},
		{"vus misspelt", "vus: 10", "vu: 10", "load.vu", 4, `unknown key "vu": did you mean vus?`},
		{"option of another executor", "vus: 10", "vus: 10\n  rate: 5", "load.rate", 5, "rate is not an option of constant-vus (its options: vus, duration, gracefulStop)"},
		{"option of another executor set to zero", "vus: 10", "vus: 10\n  startRate: 0", "load.startRate", 5, "startRate is not an option of constant-vus"},
		{"startTime in load", "vus: 10", "vus: 10\n  startTime: 5s", "load.startTime", 5, "startTime belongs to an entry of scenarios:"},
		{"snake case option", "vus: 10", "vus: 10\n  graceful_stop: 5s", "load.graceful_stop", 5, "did you mean gracefulStop?"},
		{"ramping-vus without stages", loadBlock, "load: {executor: ramping-vus}\n", "load.stages", 2, "required by ramping-vus"},
		{"ramping-vus empty stages", loadBlock, "load: {executor: ramping-vus, stages: []}\n", "load.stages", 2, "must not be empty"},
		{"stage without target", loadBlock, "load: {executor: ramping-vus, stages: [{duration: 60s}]}\n", "load.stages[0].target", 2, "required: a stage is {duration: 10s, target: 50}"},
		{"stage negative target", loadBlock, "load: {executor: ramping-vus, stages: [{duration: 60s, target: -1}]}\n", "load.stages[0].target", 2, "must be >= 0, got -1"},
		{"stage unknown key", loadBlock, "load: {executor: ramping-vus, stages: [{duration: 60s, target: 1, vus: 2}]}\n", "load.stages[0].vus", 2, `unknown key "vus" (valid keys: duration, target)`},
		{"stages of zero length", loadBlock, "load: {executor: ramping-vus, stages: [{duration: 0s, target: 5}, {duration: 0s, target: 1}]}\n", "load.stages", 2, "the total duration of the stages must be > 0"},
		{"ramping-vus to nothing", loadBlock, "load: {executor: ramping-vus, startVUs: 0, stages: [{duration: 60s, target: 0}]}\n", "load.stages", 2, "startVUs or at least one stage target must be > 0"},
		{"constant-arrival-rate without preAllocatedVUs", loadBlock, "load: {executor: constant-arrival-rate, rate: 100, duration: 60s}\n", "load.preAllocatedVUs", 2, "required by constant-arrival-rate"},
		{"constant-arrival-rate without rate", loadBlock, "load: {executor: constant-arrival-rate, duration: 60s, preAllocatedVUs: 5}\n", "load.rate", 2, "required by constant-arrival-rate"},
		{"maxVUs below preAllocatedVUs", loadBlock, "load: {executor: constant-arrival-rate, rate: 100, duration: 60s, preAllocatedVUs: 10, maxVUs: 5}\n", "load.maxVUs", 2, "must be >= preAllocatedVUs (10), got 5"},
		{"no VUs at all", loadBlock, "load: {executor: constant-arrival-rate, rate: 100, duration: 60s, preAllocatedVUs: 0}\n", "load.preAllocatedVUs", 2, "preAllocatedVUs or maxVUs must be > 0"},
		{"too many arrivals", loadBlock, "load: {executor: constant-arrival-rate, rate: 1000000000, timeUnit: 1ns, duration: 60s, preAllocatedVUs: 5}\n", "load.rate", 2, "schedules too many iterations"},
		{"too many ramping arrivals", loadBlock, "load: {executor: ramping-arrival-rate, timeUnit: 1ns, stages: [{duration: 60s, target: 1000000000}], preAllocatedVUs: 5}\n", "load.stages", 2, "the stages schedule too many iterations"},
		{"timeUnit zero", loadBlock, "load: {executor: constant-arrival-rate, rate: 100, timeUnit: 0s, duration: 60s, preAllocatedVUs: 5}\n", "load.timeUnit", 2, "must be > 0, got 0s"},
		{"ramping-arrival-rate with vus", loadBlock, "load: {executor: ramping-arrival-rate, vus: 5, stages: [{duration: 60s, target: 10}], preAllocatedVUs: 5}\n", "load.vus", 2, "vus is not an option of ramping-arrival-rate"},
		{"ramping-arrival-rate negative startRate", loadBlock, "load: {executor: ramping-arrival-rate, startRate: -1, stages: [{duration: 60s, target: 10}], preAllocatedVUs: 5}\n", "load.startRate", 2, "must be >= 0, got -1"},
		{"scenario name invalid", loadBlock, "scenarios:\n  read ers: {executor: constant-vus, vus: 1, duration: 60s}\n", "scenarios.read ers", 3, `"read ers" is not a valid scenario name`},
		{"scenario unknown request", loadBlock, "scenarios:\n  readers: {executor: constant-vus, vus: 1, duration: 60s, requests: [gte]}\n", "scenarios.readers.requests[0]", 3, `no request named "gte" (did you mean get?) (requests: get, update)`},
		{"scenario empty requests", loadBlock, "scenarios:\n  readers: {executor: constant-vus, vus: 1, duration: 60s, requests: []}\n", "scenarios.readers.requests", 3, "name at least one request"},
		{"scenario duplicate", loadBlock, "scenarios:\n  a: {executor: constant-vus, vus: 1, duration: 60s}\n  a: {executor: constant-vus, vus: 1, duration: 60s}\n", "scenarios.a", 4, `key "a" appears twice (first on line 3)`},
		{"scenarios empty", loadBlock, "scenarios: {}\n", "scenarios", 2, "at least one scenario is required"},
		{"scenario negative-looking grace", "vus: 10", "vus: 10\n  gracefulStop: -5s", "load.gracefulStop", 5, "must not be negative"},

		// requests
		{"requests missing", requestsBlock, "", "requests", 1, "required: the request mix"},
		{"requests misspelt", "requests:\n", "request:\n", "request", 6, `unknown key "request": did you mean requests?`},
		{"requests empty", requestsBlock, "requests: []\n", "requests", 6, "at least one request is required"},
		{"request name missing", "{name: get, method: GET", "{method: GET", "requests[0].name", 7, "required: name the request"},
		{"request name duplicate", "{name: update,", "{name: get,", "requests[1].name", 8, `request "get" is defined twice (first as requests[0])`},
		{"request weight zero", "weight: 5", "weight: 0", "requests[1].weight", 8, "must be > 0, got 0"},
		{"request method lower case", "method: PATCH", "method: patch", "requests[1].method", 8, "write PATCH in capitals"},
		{"request method unknown", "method: PATCH", "method: FETCH", "requests[1].method", 8, `unknown method "FETCH" (want GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)`},
		{"request path relative", `path: "/api/config/flags/{{flag}}?environment={{env}}"}`, `path: "api/config/flags"}`, "requests[0].path", 7, "must start with /"},
		{"request path with a space", `path: "/api/config/flags/{{flag}}?environment={{env}}"}`, `path: "/api/config flags"}`, "requests[0].path", 7, "must not contain spaces"},
		{"unknown placeholder", `{{flag}}?environment={{env}}"}`, `{{flag}}?environment={{environment}}"}`, "requests[0].path", 7, "unknown placeholder {{environment}} (want {{env}}, {{flag}}, {{user}}, {{bool}}, {{pct}}, {{nonce}})"},
		{"placeholder with spaces", `{{flag}}?environment={{env}}"}`, `{{ flag }}?environment={{env}}"}`, "requests[0].path", 7, "write {{flag}} without spaces"},
		{"unclosed placeholder", `'{"enabled": {{bool}}}'`, `'{"enabled": {{bool}'`, "requests[1].body", 8, "unclosed placeholder {{bool}"},
		{"body on GET", `path: "/api/config/flags/{{flag}}?environment={{env}}"}`, `path: "/api/config/flags", body: x}`, "requests[0].body", 7, "a GET request has no body"},
		{"header name invalid", "{name: get, method: GET,", "{name: get, method: GET, headers: {\"X Bad\": y},", "requests[0].headers.X Bad", 7, `"X Bad" is not a valid header name`},
		{"header value placeholder", "{name: get, method: GET,", "{name: get, method: GET, headers: {X-User: \"{{usr}}\"},", "requests[0].headers.X-User", 7, "unknown placeholder {{usr}}"},
		{"expect status out of range", "{name: get, method: GET,", "{name: get, method: GET, expect: [200, 700],", "requests[0].expect[1]", 7, "700 is not an HTTP status"},
		{"expect status twice", "{name: get, method: GET,", "{name: get, method: GET, expect: [200, 200],", "requests[0].expect[1]", 7, "status 200 is listed twice"},
		{"expect not a list", "{name: get, method: GET,", "{name: get, method: GET, expect: 200,", "requests[0].expect", 7, "want a list of status codes"},
		{"request unknown key", "{name: get, method: GET,", "{name: get, method: GET, url: x,", "requests[0].url", 7, `unknown key "url" (valid keys: name, weight, method, path, body, headers, expect)`},

		// data
		{"environment invalid", "", "data: {environments: [Prod]}\n", "data.environments[0]", 15, `"Prod" is not an environment name`},
		{"environments empty", "", "data: {environments: []}\n", "data.environments", 15, "at least one environment is required"},
		{"flag key invalid", "", "data: {flags: [flag-1, Flag-2]}\n", "data.flags[1]", 15, `"Flag-2" is not a valid flag key`},
		{"flag key twice", "", "data: {flags: [flag-1, flag-1]}\n", "data.flags[1]", 15, `"flag-1" is listed twice`},
		{"flags empty", "", "data: {flags: []}\n", "data.flags", 15, "at least one value is required"},
		{"flags count zero", "", "data: {flags: {prefix: f-, count: 0}}\n", "data.flags.count", 15, "must be > 0, got 0"},
		{"flags without count", "", "data: {flags: {prefix: f-}}\n", "data.flags.count", 15, "required: the number of values"},
		{"pad too wide", "", "data: {users: {prefix: u-, count: 5, pad: 30}}\n", "data.users.pad", 15, "must be 0 to 20, got 30"},
		{"users prefix invalid", "", "data: {users: {prefix: \"user \", count: 5}}\n", "data.users.prefix", 15, `makes "user 0", which is not a valid user id`},
		{"pool not a list", "", "data: {users: 5}\n", "data.users", 15, "want a list of values or {prefix: ..., count: N}, got 5"},
		{"data unknown key", "", "data: {flag: [a]}\n", "data.flag", 15, "did you mean flags?"},

		// timeline
		{"first phase late", "{phase: steady, at: 0s}", "{phase: steady, at: 5s}", "timeline[0].at", 10, "the first phase must start at 0s, not 5s"},
		{"phases out of order", "{phase: recovery, at: 40s}", "{phase: recovery, at: 10s}", "timeline[2].at", 12, `phases must be in order of at: 10s is not after 20s, when phase "outage" starts`},
		{"phases at the same time", "{phase: recovery, at: 40s}", "{phase: recovery, at: 20s}", "timeline[2].at", 12, "20s is not after 20s"},
		{"phases overlap", "for: 20s", "for: 25s", "timeline[1].for", 11, `phase "outage" lasts until 45s, after phase "recovery" starts at 40s: phases must not overlap`},
		{"phase after the load", "{phase: recovery, at: 40s}", "{phase: recovery, at: 60s}", "timeline[2].at", 12, "1m0s is not before the end of the load at 1m0s"},
		{"phase for past the load", "{phase: recovery, at: 40s}", "{phase: recovery, at: 40s, for: 30s}", "timeline[2].for", 12, `phase "recovery" lasts until 1m10s, after the load ends at 1m0s`},
		{"phase for zero", "{phase: recovery, at: 40s}", "{phase: recovery, at: 40s, for: 0s}", "timeline[2].for", 12, "must be > 0, got 0s"},
		{"phase name duplicate", "{phase: recovery,", "{phase: steady,", "timeline[2].phase", 12, `phase "steady" is defined twice (first as timeline[0])`},
		{"phase name invalid", "{phase: recovery,", "{phase: Recovery,", "timeline[2].phase", 12, `"Recovery" is not a valid phase name`},
		{"phase name missing", "{phase: recovery, at: 40s}", "{at: 40s}", "timeline[2].phase", 12, "required: name the phase"},
		{"phase at missing", "{phase: recovery, at: 40s}", "{phase: recovery}", "timeline[2].at", 12, "required: when the phase starts"},
		{"timeline empty", "timeline:\n  - {phase: steady, at: 0s}\n  - {phase: outage, at: 20s, for: 20s, fault: {proxy: redis, type: blackhole}}\n  - {phase: recovery, at: 40s}\n", "timeline: []\n", "timeline", 9, "at least one phase is required"},
		{"fault and action", "type: blackhole}}", "type: blackhole}, action: flush}", "timeline[1].action", 11, "a phase has a fault or an action, not both"},
		{"action unknown", "{phase: recovery, at: 40s}", "{phase: recovery, at: 40s, action: reboot}", "timeline[2].action", 12, `unknown action "reboot" (want failover, crash, restart or flush)`},
		{"rejoin without failover", "{phase: recovery, at: 40s}", "{phase: recovery, at: 40s, action: crash, rejoin: true}", "timeline[2].rejoin", 12, "rejoin applies to action: failover only"},
		{"rejoin not a bool", "{phase: recovery, at: 40s}", "{phase: recovery, at: 40s, action: failover, rejoin: yes}", "timeline[2].rejoin", 12, `want true or false, got "yes"`},
		{"proxy next to an action", "{phase: recovery, at: 40s}", "{phase: recovery, at: 40s, action: crash, proxy: postgres}", "timeline[2].proxy", 12, "actions act on the Redis primary and take no proxy"},
		{"fault type unknown", "type: blackhole", "type: lag", "timeline[1].fault.type", 11, `unknown fault type "lag" (want latency, blackhole, refused, reset, bandwidth, slicer, limit_data, slow_close)`},
		{"fault type missing", "{proxy: redis, type: blackhole}", "{proxy: redis}", "timeline[1].fault.type", 11, "required (want latency, blackhole"},
		{"fault proxy unknown", "proxy: redis,", "proxy: pg,", "timeline[1].fault.proxy", 11, `unknown proxy "pg" (known: redis, redis-replica, postgres)`},
		{"fault proxy missing", "{proxy: redis, type: blackhole}", "{type: blackhole}", "timeline[1].fault.proxy", 11, "required (want redis, redis-replica, postgres)"},
		{"fault parameter of another kind", "type: blackhole", "type: blackhole, latency: 100ms", "timeline[1].fault.latency", 11, "not used by fault type blackhole"},
		{"fault latency not whole ms", "type: blackhole", "type: latency, latency: 1500us", "timeline[1].fault.latency", 11, "1.5ms is not a whole number of milliseconds"},
		{"fault latency missing", "type: blackhole", "type: latency", "timeline[1].fault.latency", 11, "must be positive for fault type latency"},
		{"fault jitter above latency", "type: blackhole", "type: latency, latency: 10ms, jitter: 20ms", "timeline[1].fault.jitter", 11, "20ms exceeds the latency 10ms"},
		{"fault size variation", "type: blackhole", "type: slicer, averageSize: 10, sizeVariation: 10", "timeline[1].fault.sizeVariation", 11, "must be less than averageSize (10), got 10"},
		{"fault toxicity zero", "type: blackhole", "type: blackhole, toxicity: 0", "timeline[1].fault.toxicity", 11, "0 affects no connection"},
		{"fault toxicity above one", "type: blackhole", "type: blackhole, toxicity: 1.5", "timeline[1].fault.toxicity", 11, "1.5 is outside [0, 1]"},
		{"fault direction unknown", "type: blackhole", "type: blackhole, direction: sideways", "timeline[1].fault.direction", 11, `unknown direction "sideways" (want downstream, upstream, both)`},
		{"fault snake case key", "type: blackhole", "type: bandwidth, rate_kbps: 10", "timeline[1].fault.rate_kbps", 11, "did you mean rateKBps?"},
		{"fault kind key", "type: blackhole", "kind: blackhole", "timeline[1].fault.kind", 11, "write the fault's kind as type:"},
		{"fault bytes not a number", "type: blackhole", "type: limit_data, bytes: lots", "timeline[1].fault.bytes", 11, `want a whole number, got "lots"`},

		// thresholds
		{"unknown metric", "http_req_duration:", "http_req_durations:", "thresholds.http_req_durations", 14, `unknown metric "http_req_durations" (did you mean http_req_duration?) (known: http_reqs,`},
		{"key syntax", "http_req_duration:", `"http_req_duration{phase:outage":`, "thresholds.http_req_duration{phase:outage", 14, "unbalanced braces: '{' without '}'"},
		{"key with an empty selector", "http_req_duration:", `"http_req_duration{}":`, "thresholds.http_req_duration{}", 14, "empty tag selector {}"},
		{"key with a stray comma", "http_req_duration:", `"http_req_duration{phase:outage,}":`, "thresholds.http_req_duration{phase:outage,}", 14, `threshold key "http_req_duration{phase:outage,}": empty tag in the selector (a stray ',')`},
		{"key with an empty tag name", "http_req_duration:", `"http_req_duration{:outage}":`, "thresholds.http_req_duration{:outage}", 14, "empty tag name: write name:value"},
		{"key with a bad tag name", "http_req_duration:", `"http_req_duration{1phase:outage}":`, "thresholds.http_req_duration{1phase:outage}", 14, `invalid tag name "1phase": names are letters, digits, _, . and - and do not start with a digit`},
		{"key with a bad metric name", "http_req_duration:", `"http-req-duration":`, "thresholds.http-req-duration", 14, `invalid metric name "http-req-duration": names are letters, digits and _ and do not start with a digit`},
		{"key with a tag twice", "http_req_duration:", `"http_req_duration{phase:outage,phase:steady}":`, "thresholds.http_req_duration{phase:outage,phase:steady}", 14, `tag "phase" is selected twice`},
		{"unknown tag", "http_req_duration:", `"http_req_duration{sorce:redis}":`, "thresholds.http_req_duration{sorce:redis}", 14, `unknown tag "sorce" (did you mean source?): thresholds select on scenario, name, method, status, phase, source`},
		{"unknown phase", "http_req_duration:", `"http_req_duration{phase:outge}":`, "thresholds.http_req_duration{phase:outge}", 14, `no phase "outge" (did you mean outage?) (phases: steady, outage, recovery)`},
		{"unknown request name", "http_req_duration:", `"http_req_duration{name:list}":`, "thresholds.http_req_duration{name:list}", 14, `no request "list" (requests: get, update)`},
		{"unknown source", "http_req_duration:", `"http_req_duration{source:cache}":`, "thresholds.http_req_duration{source:cache}", 14, `no source "cache" (sources: redis, db, db-fallback, memory, stale)`},
		{"unknown scenario", "http_req_duration:", `"http_req_duration{scenario:readers}":`, "thresholds.http_req_duration{scenario:readers}", 14, `no scenario "readers" (scenarios: default)`},
		{"unused method", "http_req_duration:", `"http_req_duration{method:DELETE}":`, "thresholds.http_req_duration{method:DELETE}", 14, `no request uses method "DELETE" (methods: GET, PATCH)`},
		{"bad status", "http_req_duration:", `"http_req_duration{status:2xx}":`, "thresholds.http_req_duration{status:2xx}", 14, `status "2xx" is not an HTTP status`},
		{"same submetric twice", "", "  \"http_req_duration{ phase: outage }\": [\"p(99)<100\"]\n  \"http_req_duration{phase:outage}\": [\"p(95)<50\"]\n", "thresholds.http_req_duration{phase:outage}", 16, `selects the same submetric as "http_req_duration{ phase: outage }"`},
		{"threshold a string", `["p(95)<50"]`, `"p(95)<50"`, "thresholds.http_req_duration", 14, `want a list of expressions: write ["p(95)<50"]`},
		{"threshold list empty", `["p(95)<50"]`, `[]`, "thresholds.http_req_duration", 14, `no threshold expressions: write at least one, such as ["p(95)<50"]`},
		{"threshold expression empty", `["p(95)<50"]`, `[""]`, "thresholds.http_req_duration[0]", 14, "empty threshold expression"},
		{"threshold expression a number", `["p(95)<50"]`, `[50]`, "thresholds.http_req_duration[0]", 14, "want a string, got 50"},
		{"threshold object without threshold", `["p(95)<50"]`, `[{abortOnFail: true}]`, "thresholds.http_req_duration[0]", 14, "no threshold: write"},
		{"threshold object unknown key", `["p(95)<50"]`, `[{threshold: "p(95)<50", abortOnFailure: true}]`, "thresholds.http_req_duration[0].abortOnFailure", 14, "did you mean abortOnFail?"},
		{"delayAbortEval without abortOnFail", `["p(95)<50"]`, `[{threshold: "p(95)<50", delayAbortEval: 10s}]`, "thresholds.http_req_duration[0].delayAbortEval", 14, "has no effect without abortOnFail: true"},
		{"delayAbortEval bare number", `["p(95)<50"]`, `[{threshold: "p(95)<50", abortOnFail: true, delayAbortEval: 10}]`, "thresholds.http_req_duration[0].delayAbortEval", 14, "write 10s"},

		// target
		{"target start unknown phase", "", "target: {start: outtage}\n", "target.start", 15, `no phase "outtage" (did you mean outage?) (phases: steady, outage, recovery)`},
		{"target start empty", "", "target: {start: \"\"}\n", "target.start", 15, "empty: name the phase"},
		{"target unknown key", "", "target: {begin: outage}\n", "target.begin", 15, `unknown key "begin"`},
		{"target start not a string", "", "target: {start: 3}\n", "target.start", 15, "want a string"},
		{"ready time without target start", "", "  target_ready_time: [\"value<500\"]\n", "thresholds.target_ready_time", 15, "add target: {start: PHASE}"},

		// expect
		{"expect both", "", "expect: {both: []}\n", "expect.both", 15, `a profile (hardened or seed) or a variant of a target description, not "both"`},
		{"expect may unmatched", "", "expect: {seed: [{may: \"http_req_duration p(99)<50\"}]}\n", "expect.seed[0].may", 15, `"http_req_duration p(99)<50" names no threshold of this file`},
		{"expect bad mapping", "", "expect: {seed: [{might: \"http_req_duration p(95)<50\"}]}\n", "expect.seed[0]", 15, `or {may: "..."} for one that may fail or pass`},
		{"expect unmatched", "", "expect: {seed: [\"http_req_duration p(99)<50\"]}\n", "expect.seed[0]", 15, `"http_req_duration p(99)<50" names no threshold of this file: write a key of thresholds and one of its expressions, such as "http_req_duration p(95)<50"`},

		// YAML
		{"syntax error", "", "a: b: c\n", "", 15, "invalid YAML: mapping values are not allowed in this context"},
		{"two documents", "", "---\nname: other\n", "", 15, "more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := edit(t, base, tt.old, tt.new)
			s, err := Parse("test.yaml", []byte(doc))
			if err == nil {
				t.Fatalf("Parse succeeded:\n%s", doc)
			}
			if s != nil {
				t.Error("Parse returned a Spec with its error")
			}
			errs := validationErrors(t, err)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(errs), err)
			}
			e := errs[0]
			if e.File != "test.yaml" || e.Field != tt.field || e.Line != tt.line || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got  %s\nwant test.yaml:%d:*: %s: ...%s...", e, tt.line, tt.field, tt.msg)
			}
			if want := fmt.Sprintf("test.yaml:%d:", tt.line); !strings.HasPrefix(e.Error(), want) || !strings.Contains(e.Error(), tt.field) {
				t.Errorf("message %q does not start with %q and name the field", e.Error(), want)
			}
		})
	}
}

func TestParseErrorColumn(t *testing.T) {
	doc := edit(t, base, "type: blackhole", "type: lag")
	_, err := Parse("redis-outage.yaml", []byte(doc))
	want := `redis-outage.yaml:11:68: timeline[1].fault.type: unknown fault type "lag" (want latency, blackhole, refused, reset, bandwidth, slicer, limit_data, slow_close)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	doc := edit(t, base, "vus: 10", "vus: 0")
	doc = edit(t, doc, "method: PATCH", "method: FETCH")
	doc = edit(t, doc, "type: blackhole", "type: lag")
	_, err := Parse("test.yaml", []byte(doc))
	errs := validationErrors(t, err)
	var got []string
	for _, e := range errs {
		got = append(got, fmt.Sprintf("%d %s", e.Line, e.Field))
	}
	want := []string{"4 load.vus", "8 requests[1].method", "11 timeline[1].fault.type"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s\n%v", diff, err)
	}
}

func TestParseCapsErrors(t *testing.T) {
	var b strings.Builder
	for i := range 150 {
		fmt.Fprintf(&b, "bogus%d: 1\n", i)
	}
	_, err := Parse("test.yaml", []byte(base+b.String()))
	errs := validationErrors(t, err)
	if len(errs) != maxErrors+1 || errs[maxErrors].Error() != "test.yaml: 50 more problems not shown" {
		t.Errorf("got %d errors, the last %v", len(errs), errs[len(errs)-1])
	}
}

func TestParseDoesNotCascade(t *testing.T) {
	// A value the decoder cannot read is reported once, not again by the
	// checks that would see it as zero.
	tests := []struct{ name, old, new, field string }{
		{"vus a string", "vus: 10", "vus: ten", "load.vus"},
		{"at a bare number", "{phase: recovery, at: 40s}", "{phase: recovery, at: 40}", "timeline[2].at"},
		{"stages not a list", loadBlock, "load: {executor: ramping-vus, stages: 5}\n", "load.stages"},
		{"stage duration a bare number", loadBlock, "load: {executor: ramping-vus, startVUs: 0, stages: [{duration: 60, target: 0}]}\n", "load.stages[0].duration"},
		{"fault not a mapping", "fault: {proxy: redis, type: blackhole}", "fault: blackhole", "timeline[1].fault"},
		{"requests not a list", "requests:\n", "requests: 5\nx:\n", "requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(edit(t, base, tt.old, tt.new)))
			errs := validationErrors(t, err)
			if tt.name == "requests not a list" {
				// x: is an unknown key too.
				errs = errs[:1]
			}
			if len(errs) != 1 || errs[0].Field != tt.field {
				t.Errorf("want one error on %s, got:\n%v", tt.field, err)
			}
		})
	}
}

func TestParseUnknownKeysEverywhere(t *testing.T) {
	tests := []struct{ name, old, new, field, valid string }{
		{"top", "", "bogus: 1\n", "bogus", "name, description, profile, instances, memoryCacheTTL, target, load, scenarios, requestTimeout, data, requests, timeline, thresholds, expect"},
		{"load", "vus: 10", "vus: 10\n  bogus: 1", "load.bogus", "executor, vus, duration, startVUs, stages, gracefulRampDown, gracefulStop, rate, timeUnit, preAllocatedVUs, maxVUs, startRate"},
		{"scenario entry", loadBlock, "scenarios:\n  a: {executor: constant-vus, vus: 1, duration: 60s, bogus: 1}\n", "scenarios.a.bogus", "startRate, startTime, requests"},
		{"stage", loadBlock, "load: {executor: ramping-vus, stages: [{duration: 60s, target: 1, bogus: 1}]}\n", "load.stages[0].bogus", "duration, target"},
		{"request", "{name: get,", "{name: get, bogus: 1,", "requests[0].bogus", "name, weight, method, path, body, headers, expect"},
		{"data", "", "data: {bogus: 1}\n", "data.bogus", "environments, flags, users"},
		{"pool", "", "data: {flags: {count: 1, bogus: 1}}\n", "data.flags.bogus", "prefix, count, pad"},
		{"phase", "{phase: recovery, at: 40s}", "{phase: recovery, at: 40s, bogus: 1}", "timeline[2].bogus", "phase, at, for, fault, action, rejoin"},
		{"fault", "type: blackhole", "type: blackhole, bogus: 1", "timeline[1].fault.bogus", "proxy, type, direction, toxicity, latency, jitter, timeout, rateKBps, averageSize, sizeVariation, sliceDelay, bytes, closeDelay"},
		{"threshold", `["p(95)<50"]`, `[{threshold: "p(95)<50", bogus: 1}]`, "thresholds.http_req_duration[0].bogus", "threshold, abortOnFail, delayAbortEval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(edit(t, base, tt.old, tt.new)))
			errs := validationErrors(t, err)
			if len(errs) != 1 {
				t.Fatalf("want one error, got:\n%v", err)
			}
			e := errs[0]
			if e.Field != tt.field || !strings.Contains(e.Msg, `unknown key "bogus"`) || !strings.Contains(e.Msg, tt.valid) {
				t.Errorf("got %v\nwant %s: unknown key \"bogus\" listing %s", e, tt.field, tt.valid)
			}
		})
	}
}

func TestParseFullFormat(t *testing.T) {
	doc := `
name: full
description: everything at once
profile: seed
instances: 3
memoryCacheTTL: 0s
requestTimeout: 2s
scenarios:
  readers: &open {executor: constant-arrival-rate, rate: 500, timeUnit: 1s, duration: 60s, preAllocatedVUs: 50, maxVUs: 200, startTime: 0s, requests: [list, get]}
  writers: {<<: *open, rate: 10, startTime: 10s, requests: [update]}
  ramp:
    executor: ramping-vus
    stages: [{duration: 10s, target: 50}, {duration: 20s, target: 0}]
    gracefulRampDown: 0s
  burst: {executor: ramping-arrival-rate, startRate: 5, timeUnit: 100ms, stages: [{duration: 30s, target: 20}], preAllocatedVUs: 1, gracefulStop: 5s}
data:
  environments: [production]
  flags: {prefix: flag-, count: 20}
  users: [alice, bob]
requests:
  - {name: list,   weight: 60, method: GET,   path: "/api/config/flags?environment={{env}}"}
  - {name: get,    weight: 35, method: GET,   path: "/api/config/flags/{{flag}}?environment={{env}}"}
  - {name: eval,   method: GET, path: "/api/config/flags/{{flag}}/evaluate?environment={{env}}&userId={{user}}"}
  - {name: update, weight: 5,  method: PATCH, path: "/api/config/flags/{{flag}}?environment={{env}}", body: '{"rolloutPercentage": {{pct}}}', headers: {Content-Type: application/json}, expect: [200, 412]}
timeline:
  - {phase: steady, at: 0s}
  - {phase: slow, at: 10s, for: 5s, fault: {proxy: postgres, type: latency, direction: upstream, toxicity: 0.5, latency: 100ms, jitter: 10ms}}
  - {phase: failover, at: 20s, action: failover, rejoin: true}
  - {phase: recovery, at: 40s}
thresholds:
  "http_req_duration{phase:slow, source:db}": ["p(95)<150", {threshold: "p(99)<300", abortOnFail: true, delayAbortEval: 5s}]
  "http_reqs{scenario:writers,method:PATCH,status:412}": ["count<100"]
  "checks{name:eval}": ["rate>0.99"]
expect:
  seed: ["http_req_duration{source:db,phase:slow} p(99) < 300", {may: "checks{name:eval} rate>0.99"}]
  hardened: []
`
	s, err := Parse("full.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	ttl := time.Duration(0)
	want := &Spec{
		File: "full.yaml", Name: "full", Description: "everything at once", Profile: ProfileSeed, Instances: 3,
		MemoryCacheTTL: &ttl, RequestTimeout: 2 * time.Second,
		Scenarios: []Scenario{
			{Name: "readers", Line: 9, Executor: ConstantArrivalRate, Rate: 500, TimeUnit: time.Second, Duration: time.Minute, PreAllocatedVUs: 50, MaxVUs: 200, Requests: []string{"list", "get"}},
			{Name: "writers", Line: 10, Executor: ConstantArrivalRate, Rate: 10, TimeUnit: time.Second, Duration: time.Minute, PreAllocatedVUs: 50, MaxVUs: 200, StartTime: 10 * time.Second, Requests: []string{"update"}},
			{Name: "ramp", Line: 11, Executor: RampingVUs, StartVUs: 1, Stages: []Stage{{10 * time.Second, 50}, {20 * time.Second, 0}}, GracefulRampDown: -1},
			{Name: "burst", Line: 15, Executor: RampingArrivalRate, StartRate: 5, TimeUnit: 100 * time.Millisecond, Stages: []Stage{{30 * time.Second, 20}}, PreAllocatedVUs: 1, GracefulStop: 5 * time.Second},
		},
		Data: DataPools{
			Environments: []string{"production"},
			Flags:        Pool{Prefix: "flag-", Count: 20, Pad: 3},
			Users:        Pool{Values: []string{"alice", "bob"}},
		},
		Requests: []Request{
			{Name: "list", Line: 21, Weight: 60, Method: "GET", Path: "/api/config/flags?environment={{env}}"},
			{Name: "get", Line: 22, Weight: 35, Method: "GET", Path: "/api/config/flags/{{flag}}?environment={{env}}"},
			{Name: "eval", Line: 23, Weight: 1, Method: "GET", Path: "/api/config/flags/{{flag}}/evaluate?environment={{env}}&userId={{user}}"},
			{Name: "update", Line: 24, Weight: 5, Method: "PATCH", Path: "/api/config/flags/{{flag}}?environment={{env}}", Body: `{"rolloutPercentage": {{pct}}}`, Headers: map[string]string{"Content-Type": "application/json"}, Expect: []int{200, 412}},
		},
		Timeline: []Phase{
			{Name: "steady", Line: 26},
			{Name: "slow", Line: 27, At: 10 * time.Second, For: 5 * time.Second, Fault: &toxics.Fault{Proxy: "postgres", Kind: toxics.Latency, Direction: toxics.Upstream, Toxicity: 0.5, Latency: 100 * time.Millisecond, Jitter: 10 * time.Millisecond}},
			{Name: "failover", Line: 28, At: 20 * time.Second, Action: ActionFailover, Rejoin: true},
			{Name: "recovery", Line: 29, At: 40 * time.Second},
		},
		Thresholds: []ThresholdSpec{
			{Key: "http_req_duration{phase:slow, source:db}", Line: 31, Exprs: []ThresholdExpr{{Text: "p(95)<150", Line: 31}, {Text: "p(99)<300", AbortOnFail: true, DelayAbortEval: 5 * time.Second, Line: 31}}},
			{Key: "http_reqs{scenario:writers,method:PATCH,status:412}", Line: 32, Exprs: []ThresholdExpr{{Text: "count<100", Line: 32}}},
			{Key: "checks{name:eval}", Line: 33, Exprs: []ThresholdExpr{{Text: "rate>0.99", Line: 33}}},
		},
		Expect: map[string][]ExpectedFailure{
			"seed":     {{Text: "http_req_duration{source:db,phase:slow} p(99) < 300", Line: 35}, {Text: "checks{name:eval} rate>0.99", May: true, Line: 35}},
			"hardened": {},
		},
	}
	if diff := cmp.Diff(want, s, cmpopts.IgnoreUnexported(Spec{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	if got := s.Duration(); got != 70*time.Second {
		t.Errorf("Duration() = %v, want 1m10s (writers start at 10s and run 60s)", got)
	}
	if !s.Expected("seed", "http_req_duration{phase:slow, source:db}", 1) {
		t.Error("the seed expectation does not match its threshold")
	}
	if got := s.Expectation("seed", "checks{name:eval}", 0); got != ExpectEither {
		t.Errorf("{may: ...} gives %v, want ExpectEither", got)
	}
	if got := s.Expectation("seed", "http_req_duration{phase:slow, source:db}", 1); got != ExpectFail {
		t.Errorf("a plain item gives %v, want ExpectFail", got)
	}
	for _, tc := range []struct {
		p     string
		key   string
		index int
	}{
		{"seed", "http_req_duration{phase:slow, source:db}", 0},
		{"hardened", "http_req_duration{phase:slow, source:db}", 1},
		{"hardened", "checks{name:eval}", 0},
	} {
		if s.Expected(tc.p, tc.key, tc.index) {
			t.Errorf("Expected(%v, %q, %d) = true", tc.p, tc.key, tc.index)
		}
	}
	f := s.Timeline[1].Fault
	if got, want := f.String(), "latency 100ms±10ms upstream toxicity 0.5 on postgres"; got != want {
		t.Errorf("fault %q, want %q", got, want)
	}
}

func TestParseDefaults(t *testing.T) {
	s, err := Parse("test.yaml", []byte(`
name: minimal
load: {executor: ramping-vus, stages: [{duration: 30s, target: 10}]}
requests: [{name: get, method: GET, path: /healthz}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Profile != ProfileHardened || s.Instances != 1 || s.RequestTimeout != 10*time.Second || s.MemoryCacheTTL != nil {
		t.Errorf("top-level defaults: %+v", s)
	}
	if diff := cmp.Diff(DefaultDataPools(), s.Data); diff != "" {
		t.Errorf("data defaults (-want +got):\n%s", diff)
	}
	if got := s.Scenarios[0]; got.Name != DefaultScenario || got.StartVUs != 1 || got.GracefulStop != 0 || got.GracefulRampDown != 0 {
		t.Errorf("scenario defaults: %+v", got)
	}
	if diff := cmp.Diff([]Phase{{Name: DefaultPhase}}, s.Timeline); diff != "" {
		t.Errorf("timeline default (-want +got):\n%s", diff)
	}
	if got := s.PhaseAt(29 * time.Second); got != DefaultPhase {
		t.Errorf("PhaseAt = %q", got)
	}
	if got := s.Profiles(); !cmp.Equal(got, []Profile{ProfileHardened}) {
		t.Errorf("Profiles() = %v", got)
	}
}

func TestParseYAMLFeatures(t *testing.T) {
	t.Run("aliases and merge keys", func(t *testing.T) {
		s, err := Parse("test.yaml", []byte(`
name: anchors
load: &l {executor: constant-vus, vus: 5, duration: 10s}
requests:
  - &get {name: get, method: GET, path: /healthz}
  - {<<: *get, name: get2, weight: 3}
thresholds:
  http_req_duration: &t ["p(95)<50"]
  http_req_waiting: *t
`))
		if err != nil {
			t.Fatal(err)
		}
		if r := s.Requests[1]; r.Name != "get2" || r.Path != "/healthz" || r.Weight != 3 {
			t.Errorf("merged request: %+v", r)
		}
	})
	t.Run("a merge of its own anchor", func(t *testing.T) {
		_, err := Parse("test.yaml", []byte("name: x\nload: &l {<<: *l}\n"))
		if err == nil || !strings.Contains(err.Error(), "expands too many aliases") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("billion laughs", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("name: x\ndata:\n  x0: &a0 {k0: 1, k1: 1, k2: 1, k3: 1, k4: 1, k5: 1, k6: 1, k7: 1, k8: 1, k9: 1}\n")
		for i := 1; i < 10; i++ {
			fmt.Fprintf(&b, "  x%d: &a%d {<<: [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]}\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
		}
		b.WriteString("load: {<<: *a9}\n")
		_, err := Parse("test.yaml", []byte(b.String()))
		if err == nil || !strings.Contains(err.Error(), "expands too many aliases") {
			t.Errorf("got %v", err)
		}
	})
	for _, tt := range []struct{ name, doc, msg string }{
		{"empty", "", "test.yaml: empty file"},
		{"comments only", "# nothing\n", "test.yaml: empty file"},
		{"empty document", "---\n", "test.yaml:2:1: empty document"},
		{"a list", "- a\n", `test.yaml:1:1: want a mapping (key: value), got a list`},
		{"too large", strings.Repeat("#", maxFileSize+1), "test.yaml: file is"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tt.doc))
			if err == nil || !strings.HasPrefix(err.Error(), tt.msg) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one error starting %q", err, tt.msg)
			}
		})
	}
}

func TestGracePeriods(t *testing.T) {
	// The harness's load package reads zero as its default and a negative
	// grace as none; k6 files write none as 0s.
	s, err := Parse("test.yaml", []byte(edit(t, base, "vus: 10", "vus: 10\n  gracefulStop: 0s")))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Scenarios[0].GracefulStop; got >= 0 {
		t.Errorf("gracefulStop: 0s became %v, want a negative duration (none)", got)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.yaml")
	if err := os.WriteFile(path, []byte(edit(t, base, "vus: 10", "vus: 0")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if errs := validationErrors(t, err); len(errs) != 1 || errs[0].File != path {
		t.Errorf("Load: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestParseTargetStart(t *testing.T) {
	doc := base + "  \"target_ready_time{phase:outage}\": [\"value<500\"]\ntarget: {start: outage}\n"
	s, err := Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if s.Target.Start != "outage" {
		t.Errorf("Target.Start = %q, want outage", s.Target.Start)
	}
	s, err = Parse("test.yaml", []byte(base))
	if err != nil || s.Target.Start != "" {
		t.Errorf("without target: Start %q, err %v; want the flagservers started before the run", s.Target.Start, err)
	}
}
