package k6_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
	"github.com/evanw/esbuild/pkg/api"
	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/harness/internal/k6"
	"github.com/flagstorm/flagstorm/harness/internal/run"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/internal/metric"
	"github.com/flagstorm/flagstorm/scenarios"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// builtinFiles are every scenario file of the repository: scenarios/*.yaml
// and those in its subdirectories (the soak).
func builtinFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"../../../scenarios/*.yaml", "../../../scenarios/*/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < len(scenarios.BuiltinNames()) {
		t.Fatalf("found %d scenario files, fewer than the %d built-ins", len(files), len(scenarios.BuiltinNames()))
	}
	return files
}

func export(t *testing.T, file string) (*run.Plan, *k6.Script) {
	t.Helper()
	var spec *scenarios.Spec
	var err error
	if name, ok := strings.CutPrefix(file, "builtin:"); ok {
		spec, err = scenarios.BuiltinNamed(name) // named scenarios/NAME.yaml, as from the repository's root
	} else {
		spec, err = scenarios.Load(file)
	}
	if err != nil {
		t.Fatal(err)
	}
	plan, err := run.NewPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := k6.Export(plan.Spec, plan.Thresholds, k6.Config{ToxiproxyURL: "http://127.0.0.1:8474"})
	if err != nil {
		t.Fatal(err)
	}
	return plan, s
}

// script is an exported script evaluated in goja with stub k6 modules:
// its exports, and what its functions did.
type script struct {
	vm      *goja.Runtime
	exports *goja.Object
	now     float64 // what Date.now returns, Unix ms
	// scenario is exec.scenario: name and startTime (Unix ms).
	scenario map[string]any
	requests []request
	gauges   map[string][]float64
	checks   int
}

type request struct {
	Method, URL string
	Body        any
	Tags        map[string]any
	Headers     map[string]any
	At          float64 // Date.now when sent
	Callback    bool
}

// evaluate transforms the ES module to CommonJS with esbuild's Go API and
// runs it in goja with stub k6, k6/http, k6/metrics and k6/execution
// modules (the script's only imports).
func evaluate(t *testing.T, src []byte, env map[string]string) *script {
	t.Helper()
	res := api.Transform(string(src), api.TransformOptions{Loader: api.LoaderJS, Format: api.FormatCommonJS, Target: api.ES2017, Sourcefile: "script.js"})
	for _, m := range res.Errors {
		t.Errorf("esbuild: %s (line %d)", m.Text, lineOf(m))
	}
	if t.Failed() {
		t.FailNow()
	}
	s := &script{vm: goja.New(), gauges: map[string][]float64{}, scenario: map[string]any{"name": "", "startTime": 0.0}, now: 1e12}
	vm := s.vm
	vm.SetFieldNameMapper(goja.TagFieldNameMapper("json", true))
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	httpMod := vm.NewObject()
	must(httpMod.Set("request", func(method, url string, body goja.Value, params map[string]any) map[string]any {
		r := request{Method: method, URL: url, At: s.now}
		if body != nil && !goja.IsNull(body) && !goja.IsUndefined(body) {
			r.Body = body.Export()
		}
		if tags, ok := params["tags"].(map[string]any); ok {
			r.Tags = tags
		}
		if h, ok := params["headers"].(map[string]any); ok {
			r.Headers = h
		}
		_, r.Callback = params["responseCallback"]
		s.requests = append(s.requests, r)
		return map[string]any{"status": 200, "body": ""}
	}))
	must(httpMod.Set("expectedStatuses", func(call goja.FunctionCall) goja.Value {
		return vm.ToValue(map[string]any{"expected": len(call.Arguments)})
	}))
	k6Mod := vm.NewObject()
	must(k6Mod.Set("check", func(_ goja.Value, checks map[string]any, _ goja.Value) bool {
		s.checks++
		return true
	}))
	must(k6Mod.Set("sleep", func(secs float64) { s.now += secs * 1000 }))
	metricsMod := vm.NewObject()
	must(metricsMod.Set("Gauge", func(call goja.ConstructorCall) *goja.Object {
		name := call.Argument(0).String()
		must(call.This.Set("add", func(v float64) { s.gauges[name] = append(s.gauges[name], v) }))
		return nil
	}))
	execMod := vm.NewObject()
	must(execMod.DefineAccessorProperty("scenario", vm.ToValue(func() map[string]any { return s.scenario }), nil, goja.FLAG_FALSE, goja.FLAG_TRUE))
	must(execMod.Set("vu", map[string]any{"idInTest": 1}))
	modules := map[string]goja.Value{"k6/http": httpMod, "k6": k6Mod, "k6/metrics": metricsMod, "k6/execution": execMod}
	require := func(name string) goja.Value {
		m, ok := modules[name]
		if !ok {
			panic(vm.NewTypeError("the script imports %q, which is not one of k6's modules the stubs provide", name))
		}
		return m
	}
	module := vm.NewObject()
	exports := vm.NewObject()
	must(module.Set("exports", exports))
	envObj := vm.NewObject()
	for k, v := range env {
		must(envObj.Set(k, v))
	}
	must(vm.Set("__ENV", envObj))
	must(vm.Set("console", map[string]any{"error": func(msg string) { t.Errorf("script: console.error: %s", msg) }}))
	// Date.now is the test's clock.
	_, err := vm.RunString(`Date.now = function() { return __now(); };`)
	must(err)
	must(vm.Set("__now", func() float64 { return s.now }))
	fn, err := vm.RunString("(function(require, module, exports) {\n" + string(res.Code) + "\n})")
	if err != nil {
		t.Fatalf("goja: %v", err)
	}
	call, ok := goja.AssertFunction(fn)
	if !ok {
		t.Fatal("not a function")
	}
	if _, err := call(goja.Undefined(), vm.ToValue(require), module, exports); err != nil {
		t.Fatalf("evaluating the script: %v", err)
	}
	s.exports = module.Get("exports").ToObject(vm)
	return s
}

func lineOf(m api.Message) int {
	if m.Location != nil {
		return m.Location.Line
	}
	return 0
}

// call calls an exported function.
func (s *script) call(t *testing.T, name string, args ...any) goja.Value {
	t.Helper()
	fn, ok := goja.AssertFunction(s.exports.Get(name))
	if !ok {
		t.Fatalf("the script exports no function %s", name)
	}
	vals := make([]goja.Value, len(args))
	for i, a := range args {
		vals[i] = s.vm.ToValue(a)
	}
	v, err := fn(goja.Undefined(), vals...)
	if err != nil {
		t.Fatalf("%s(): %v", name, err)
	}
	return v
}

// options is k6's options object as the script exports it.
type options struct {
	Scenarios         map[string]map[string]any `json:"scenarios"`
	Thresholds        map[string][]any          `json:"thresholds"`
	SummaryTrendStats []string                  `json:"summaryTrendStats"`
}

func (s *script) options(t *testing.T) options {
	t.Helper()
	js, err := s.vm.RunString("JSON.stringify")
	if err != nil {
		t.Fatal(err)
	}
	stringify, _ := goja.AssertFunction(js)
	v, err := stringify(goja.Undefined(), s.exports.Get("options"))
	if err != nil {
		t.Fatal(err)
	}
	var o options
	if err := json.Unmarshal([]byte(v.String()), &o); err != nil {
		t.Fatalf("options: %v\n%s", err, v.String())
	}
	return o
}

// k6's built-in metrics (https://grafana.com/docs/k6/latest/using-k6/metrics/reference/)
// that an exported threshold may name.
var k6Metrics = []string{
	"checks", "data_received", "data_sent", "dropped_iterations", "iterations", "vus", "vus_max",
	"http_reqs", "http_req_duration", "http_req_waiting", "http_req_failed",
}

// Tags an exported selector may use: k6's built-in request tags and the
// script's own (phase, traffic).
var k6Tags = []string{"name", "method", "status", "scenario", "phase", "traffic"}

// Options per executor: required, and allowed.
// https://grafana.com/docs/k6/latest/using-k6/scenarios/executors/
var executorOptions = map[string]struct{ required, allowed []string }{
	"constant-vus":          {[]string{"vus", "duration"}, nil},
	"ramping-vus":           {[]string{"stages"}, []string{"startVUs", "gracefulRampDown"}},
	"constant-arrival-rate": {[]string{"rate", "timeUnit", "duration", "preAllocatedVUs"}, []string{"maxVUs"}},
	"ramping-arrival-rate":  {[]string{"stages", "timeUnit", "preAllocatedVUs"}, []string{"startRate", "maxVUs"}},
	"shared-iterations":     {[]string{"vus", "iterations"}, []string{"maxDuration"}},
}

var common = []string{"executor", "exec", "tags", "startTime", "gracefulStop"}

var k6Duration = regexp.MustCompile(`^[0-9]+(ms|s)$`)

// Every built-in file exports to a script that esbuild parses, that goja
// evaluates with stub k6 modules, and whose options are what k6 accepts:
// its executors with their options as whole numbers and durations,
// thresholds on k6's metrics with well-formed selectors, and
// summaryTrendStats covering every statistic a threshold uses.
func TestExportEveryBuiltinFile(t *testing.T) {
	for _, file := range builtinFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			plan, s := export(t, file)
			js := evaluate(t, s.Source, nil)
			o := js.options(t)
			checkScenarios(t, plan.Spec, o, js)
			checkThresholds(t, o)
			for _, w := range s.Warnings {
				if !strings.Contains(string(s.Source), w.Field) {
					t.Errorf("warning %q is not in the script's header", w)
				}
			}
		})
	}
}

func checkScenarios(t *testing.T, spec *scenarios.Spec, o options, js *script) {
	t.Helper()
	load := 0
	for name, sc := range o.Scenarios {
		ex, _ := sc["executor"].(string)
		want, ok := executorOptions[ex]
		if !ok {
			t.Errorf("scenario %s: executor %q is not one of k6's", name, ex)
			continue
		}
		for _, k := range want.required {
			if _, ok := sc[k]; !ok {
				t.Errorf("scenario %s (%s): no %s", name, ex, k)
			}
		}
		for k, v := range sc {
			if !slices.Contains(want.required, k) && !slices.Contains(want.allowed, k) && !slices.Contains(common, k) {
				t.Errorf("scenario %s (%s): option %s is not the executor's", name, ex, k)
			}
			switch k {
			case "vus", "iterations", "rate", "startRate", "startVUs", "preAllocatedVUs", "maxVUs":
				if f, ok := v.(float64); !ok || f != math.Trunc(f) || f < 0 {
					t.Errorf("scenario %s: %s = %v, want a whole number", name, k, v)
				}
			case "duration", "timeUnit", "startTime", "gracefulStop", "gracefulRampDown", "maxDuration":
				checkDuration(t, name+"."+k, v)
			case "stages":
				stages, _ := v.([]any)
				if len(stages) == 0 {
					t.Errorf("scenario %s: no stages", name)
				}
				for i, st := range stages {
					m, _ := st.(map[string]any)
					checkDuration(t, fmt.Sprintf("%s.stages[%d].duration", name, i), m["duration"])
					if f, ok := m["target"].(float64); !ok || f != math.Trunc(f) || f < 0 {
						t.Errorf("scenario %s: stages[%d].target = %v, want a whole number", name, i, m["target"])
					}
				}
			case "exec":
				if _, ok := goja.AssertFunction(js.exports.Get(v.(string))); !ok {
					t.Errorf("scenario %s: exec %q is not an exported function", name, v)
				}
			}
		}
		tags, _ := sc["tags"].(map[string]any)
		if name == k6.ControlScenario {
			if sc["vus"] != 1.0 || sc["iterations"] != 1.0 || tags["traffic"] != "control" {
				t.Errorf("control scenario: %v", sc)
			}
			continue
		}
		load++
		if tags["traffic"] != "load" {
			t.Errorf("scenario %s: tags %v, want traffic:load", name, tags)
		}
	}
	if load != len(spec.Scenarios) {
		t.Errorf("%d load scenarios, the file has %d", load, len(spec.Scenarios))
	}
	_, hasControl := o.Scenarios[k6.ControlScenario]
	faults := slices.ContainsFunc(spec.Timeline, func(p scenarios.Phase) bool { return p.Fault != nil })
	if hasControl != faults {
		t.Errorf("control scenario: %v, faults in the timeline: %v", hasControl, faults)
	}
}

func checkDuration(t *testing.T, what string, v any) {
	t.Helper()
	s, _ := v.(string)
	if !k6Duration.MatchString(s) {
		t.Errorf("%s = %v, want a k6 duration in whole ms or s", what, v)
		return
	}
	if _, err := time.ParseDuration(s); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

func checkThresholds(t *testing.T, o options) {
	t.Helper()
	for key, list := range o.Thresholds {
		name, tags, err := metric.ParseKey(key)
		if err != nil {
			t.Errorf("threshold key %q: %v", key, err)
			continue
		}
		if !slices.Contains(k6Metrics, name) {
			t.Errorf("threshold key %q: %s is not a k6 metric", key, name)
		}
		for _, tag := range tags {
			if !slices.Contains(k6Tags, tag.Name) {
				t.Errorf("threshold key %q: tag %s is neither k6's nor the script's", key, tag.Name)
			}
		}
		if len(list) == 0 {
			t.Errorf("threshold key %q: no expression", key)
		}
		for _, e := range list {
			text, ok := e.(string)
			if m, isObj := e.(map[string]any); isObj {
				text, ok = m["threshold"].(string)
				if m["abortOnFail"] != true {
					t.Errorf("threshold %q: an object without abortOnFail: %v", key, m)
				}
				if d, has := m["delayAbortEval"]; has {
					checkDuration(t, key+".delayAbortEval", d)
				}
			}
			if !ok {
				t.Errorf("threshold %q: %v is neither a string nor a threshold object", key, e)
				continue
			}
			expr, err := verdict.ParseExpr(text)
			if err != nil {
				t.Errorf("threshold %q: %q: %v", key, text, err)
				continue
			}
			if d, _ := metric.Lookup(name); d.Kind == metric.KindTrend && !slices.Contains(o.SummaryTrendStats, expr.Agg.String()) {
				t.Errorf("threshold %q uses %s, which summaryTrendStats %v does not show", key, expr.Agg, o.SummaryTrendStats)
			}
		}
	}
}

// The load function tags each request with its name and the phase of
// its scenario's own clock (the run's zero is the scenario's start minus
// its startTime), fills every placeholder, adds the admin token to
// writes, and sets the run's zero once per VU.
func TestLoadFunction(t *testing.T) {
	for _, name := range []string{"redis-outage", "cold-start", "cache-stampede"} {
		t.Run(name, func(t *testing.T) {
			plan, s := export(t, "builtin:"+name)
			spec := plan.Spec
			js := evaluate(t, s.Source, map[string]string{"BASE_URL": "http://127.0.0.1:1/,http://127.0.0.1:2", "ADMIN_TOKEN": "tok"})
			zero := 1.7e12
			for _, sc := range spec.Scenarios {
				js.scenario = map[string]any{"name": sc.Name, "startTime": zero + float64(sc.StartTime.Milliseconds())}
				for off := sc.StartTime; off < sc.End(); off += 997 * time.Millisecond {
					js.now = zero + float64(off.Milliseconds())
					js.requests = nil
					js.call(t, "load")
					if len(js.requests) != 1 {
						t.Fatalf("load sent %d requests", len(js.requests))
					}
					r := js.requests[0]
					if got, want := r.Tags["phase"], spec.PhaseAt(off); got != want && !(got == nil && want == "") {
						t.Errorf("%s at %s: phase tag %v, want %q", sc.Name, off, got, want)
					}
					if !strings.HasPrefix(r.URL, "http://127.0.0.1:1/api/") && !strings.HasPrefix(r.URL, "http://127.0.0.1:2/api/") {
						t.Errorf("URL %s", r.URL)
					}
					if strings.Contains(r.URL, "{{") || strings.Contains(fmt.Sprint(r.Body), "{{") {
						t.Errorf("a placeholder left: %s %v", r.URL, r.Body)
					}
					i := slices.IndexFunc(spec.Requests, func(q scenarios.Request) bool { return q.Name == r.Tags["name"] })
					if i < 0 || len(sc.Requests) > 0 && !slices.Contains(sc.Requests, spec.Requests[i].Name) {
						t.Fatalf("%s sent request %v, not in its mix", sc.Name, r.Tags["name"])
					}
					q := spec.Requests[i]
					if r.Method != q.Method || (q.Method == "PATCH") != (r.Headers["Authorization"] == "Bearer tok") {
						t.Errorf("%s %s: headers %v", r.Method, q.Name, r.Headers)
					}
					if r.Callback != (len(q.Expect) > 0) {
						t.Errorf("%s: responseCallback %v, expect %v", q.Name, r.Callback, q.Expect)
					}
				}
			}
			if js.checks == 0 {
				t.Error("no check")
			}
			for _, v := range js.gauges[k6.RunStartMetric] {
				if v != zero {
					t.Errorf("%s = %v, want %v", k6.RunStartMetric, v, zero)
				}
			}
		})
	}
}

// The control function applies and removes each phase's fault through
// Toxiproxy's API at the phase's times from its own start, tagged as
// control traffic; setup and teardown undo the timeline's own faults and
// nothing else (the Toxiproxy may be shared: no POST /reset).
func TestControlFunction(t *testing.T) {
	_, s := export(t, "builtin:redis-outage")
	js := evaluate(t, s.Source, map[string]string{"TOXIPROXY_URL": "http://127.0.0.1:9/"})
	zero := 1.7e12
	js.now = zero - 5
	js.call(t, "setup")
	js.scenario = map[string]any{"name": k6.ControlScenario, "startTime": zero}
	js.now = zero
	js.call(t, "control")
	js.call(t, "teardown")
	type call struct {
		At                float64
		Method, URL, Step string
		Phase             any
		Traffic           any
		Body              any
	}
	var got []call
	for _, r := range js.requests {
		got = append(got, call{At: r.At - zero, Method: r.Method, URL: r.URL, Step: r.Tags["step"].(string), Phase: r.Tags["phase"], Traffic: r.Tags["traffic"], Body: r.Body})
	}
	toxic := func(stream string) string {
		return `{"attributes":{"timeout":0},"name":"flagstorm_outage_` + stream + `","stream":"` + stream + `","toxicity":1,"type":"timeout"}`
	}
	want := []call{
		{-5, "DELETE", "http://127.0.0.1:9/proxies/redis/toxics/flagstorm_outage_downstream", "reset", nil, "control", nil},
		{-5, "DELETE", "http://127.0.0.1:9/proxies/redis/toxics/flagstorm_outage_upstream", "reset", nil, "control", nil},
		{20000, "POST", "http://127.0.0.1:9/proxies/redis/toxics", "apply", "outage", "control", toxic("downstream")},
		{20000, "POST", "http://127.0.0.1:9/proxies/redis/toxics", "apply", "outage", "control", toxic("upstream")},
		{40000, "DELETE", "http://127.0.0.1:9/proxies/redis/toxics/flagstorm_outage_downstream", "remove", "outage", "control", nil},
		{40000, "DELETE", "http://127.0.0.1:9/proxies/redis/toxics/flagstorm_outage_upstream", "remove", "outage", "control", nil},
		{40000, "DELETE", "http://127.0.0.1:9/proxies/redis/toxics/flagstorm_outage_downstream", "reset", nil, "control", nil},
		{40000, "DELETE", "http://127.0.0.1:9/proxies/redis/toxics/flagstorm_outage_upstream", "reset", nil, "control", nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("control calls (-want +got):\n%s", diff)
	}
}

// Two scripts, byte for byte: one with the fault timeline and the
// open model, one without a timeline. go test -update rewrites them.
func TestExportGolden(t *testing.T) {
	for _, name := range []string{"redis-outage", "baseline"} {
		t.Run(name, func(t *testing.T) {
			_, s := export(t, "builtin:"+name)
			var warnings strings.Builder
			for _, w := range s.Warnings {
				fmt.Fprintln(&warnings, w)
			}
			got := string(s.Source) + "\n// --- warnings ---\n" + warnings.String()
			golden := filepath.Join("testdata", name+".js.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got; go test -update to accept):\n%s", golden, diff)
			}
		})
	}
}

// What a k6 script cannot carry is a warning, one per item, naming the
// file's field.
func TestExportWarnings(t *testing.T) {
	tests := []struct {
		file string
		want []string // fields
	}{
		{"baseline", []string{"thresholds.http_req_duration"}},
		{"cold-start", []string{"target.start", "thresholds.target_ready_time", `thresholds.http_reqs{phase:redis-down,source:db-fallback}`, `thresholds.http_reqs{phase:recovered,source:redis}`, "thresholds.http_req_duration{phase:redis-down}"}},
		{"cache-stampede", []string{"timeline[1]", "timeline[2]", "timeline[3]", "timeline[4]", "timeline[5]", "thresholds.http_req_duration", "thresholds.http_req_duration{phase:flush-1}", "thresholds.http_req_duration{phase:flush-3}", "thresholds.http_req_duration{phase:flush-5}", "thresholds.stale_reads{source:memory}", "thresholds.recovery_time"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, s := export(t, "builtin:"+tc.file)
			var got []string
			for _, w := range s.Warnings {
				got = append(got, w.Field)
			}
			slices.Sort(got)
			slices.Sort(tc.want)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s\n%v", diff, s.Warnings)
			}
		})
	}
}
