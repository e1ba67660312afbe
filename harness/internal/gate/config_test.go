package gate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestGateConfigParse(t *testing.T) {
	yamlDoc := `
shortWindow: 2m
longWindow: 10m
minSamples: 200
latency: {max: 80ms, maxRatio: 2, criticalRatio: 0}
errorRate: {max: 0.02}
cacheErrorRate: {enabled: false}
flagger:
  canary: 'namespace="{{.Namespace}}",app="{{.Name}}"'
  baseline: 'namespace="{{.Namespace}}",app="{{.Name}}-primary"'
`
	jsonDoc := `{"shortWindow":"2m","longWindow":"10m","minSamples":200,"latency":{"max":"80ms","maxRatio":2,"criticalRatio":0},
"errorRate":{"max":0.02},"cacheErrorRate":{"enabled":false},
"flagger":{"canary":"namespace=\"{{.Namespace}}\",app=\"{{.Name}}\"","baseline":"namespace=\"{{.Namespace}}\",app=\"{{.Name}}-primary\""}}`
	want := Default()
	want.ShortWindow, want.LongWindow, want.MinSamples = 2*time.Minute, 10*time.Minute, 200
	want.Latency.Max, want.Latency.MaxRatio, want.Latency.CriticalRatio = 80*time.Millisecond, 2, 0
	want.ErrorRate.Max = 0.02
	want.CacheErrorRate.Enabled = false
	want.Flagger = FlaggerConfig{Canary: `namespace="{{.Namespace}}",app="{{.Name}}"`, Baseline: `namespace="{{.Namespace}}",app="{{.Name}}-primary"`}
	for name, doc := range map[string]string{"yaml": yamlDoc, "json": jsonDoc} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gate."+name)
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("config (-want +got):\n%s", d)
			}
		})
	}
	if got, err := ParseConfig(nil, Default()); err != nil || !cmp.Equal(got, Default()) {
		t.Errorf("empty document: %v, %v; want the defaults", got, err)
	}
}

func TestGateConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		doc    string
		fields []string
	}{
		{`shortWindow: 5m`, []string{"longWindow"}},
		{`shortWindow: 1.5s`, []string{"shortWindow"}},
		{`shortWindow: soon`, []string{"shortWindow"}},
		{`shortWindow: 60`, []string{"shortWindow"}},
		{`minSamples: 0`, []string{"minSamples"}},
		{`minSamples: 2.5`, []string{"minSamples"}},
		{`routes: "(["`, []string{"routes"}},
		{`timeout: 2m`, []string{"timeout"}},
		{`latency: {quantile: 95}`, []string{"latency.quantile"}},
		{`latency: {max: 0s}`, []string{"latency.max"}},
		{`latency: {critical: 10ms}`, []string{"latency.critical"}},
		{`latency: {maxRatio: 0.5}`, []string{"latency.maxRatio"}},
		{`latency: {maxRatio: 2, criticalRatio: 1.5}`, []string{"latency.criticalRatio"}},
		{`latency: {minDelta: -1ms}`, []string{"latency.minDelta"}},
		{`latency: {enabled: "yes"}`, []string{"latency.enabled"}},
		{`errorRate: {max: 1.5}`, []string{"errorRate.max", "errorRate.critical"}},
		{`fallbackRate: {critical: 0.01}`, []string{"fallbackRate.critical"}},
		{`cacheErrorRate: 0.1`, []string{"cacheErrorRate"}},
		{`errorrate: {max: 0.1}`, []string{"errorrate"}},
		{`latency: {p95: 10ms}`, []string{"latency.p95"}},
		{`flagger: {canary: 'app="{{.Nme}}"'}`, []string{"flagger.canary"}},
		{`flagger: {baseline: 'app'}`, []string{"flagger.baseline"}},
		{`{latency: {enabled: false}, errorRate: {enabled: false}, cacheErrorRate: {enabled: false}, fallbackRate: {enabled: false}}`, []string{"enabled"}},
		{`[1, 2]`, []string{"(document)"}},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.doc), Default())
			if err == nil {
				t.Fatal("no error")
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), f+": ") {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
		})
	}
	if _, err := ParseConfig([]byte("a: [unclosed"), Default()); err == nil || !strings.Contains(err.Error(), "parse") {
		t.Errorf("bad YAML: %v", err)
	}
}

func TestGateSelector(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{track="canary"}`, `track="canary"`},
		{`job="flagserver",track="baseline"`, `job="flagserver",track="baseline"`},
		{` { job = 'flag"server' , track =~ "can.*" } `, `job="flag\"server",track=~"can.*"`},
		{"{track=`a\\b`}", `track="a\\b"`},
		{`{track!="x",pod=~"p-.+"}`, `track!="x",pod=~"p-.+"`},
		{`{track="canary",}`, `track="canary"`}, // PromQL allows a trailing comma
	} {
		sel, err := ParseSelector(tc.in)
		if err != nil || sel.String() != tc.want {
			t.Errorf("ParseSelector(%q) = %q, %v; want %q", tc.in, sel.String(), err, tc.want)
		}
	}
	for _, in := range []string{``, `{}`, `{track="canary"`, `track`, `track=canary`, `track="a" job="b"`, `9x="a"`,
		`track=~".*"`, `track!="x"`, `track="a",,`, `__name__="up"`, `code="500"`, `track=~"("`, `track="unterminated`, `track==""`} {
		if sel, err := ParseSelector(in); err == nil {
			t.Errorf("ParseSelector(%q) = %q; want an error", in, sel.String())
		}
	}
}

func TestGatePlanQueries(t *testing.T) {
	cfg := Default()
	qs := Plan(cfg, mustSelector(t, `track="canary"`), mustSelector(t, `track="baseline"`))
	if len(qs) != 2*2*7 {
		t.Fatalf("%d queries; want 28", len(qs))
	}
	want := map[string]bool{
		`histogram_quantile(0.95, sum by (le) (rate(flagserver_http_request_duration_seconds_bucket{track="canary",route=~"[A-Z]+ /api/.+"}[1m])))`: true,
		`sum(increase(flagserver_http_requests_total{track="baseline",route=~"[A-Z]+ /api/.+",code=~"5.."}[5m]))`:                                   true,
		`sum(increase(flagserver_cache_operations_total{track="canary",result=~"error|rejected"}[1m]))`:                                             true,
		`sum(increase(flagserver_reads_total{track="canary",source="db-fallback"}[5m]))`:                                                            true,
	}
	for _, q := range qs {
		delete(want, q.PromQL)
	}
	for q := range want {
		t.Errorf("plan lacks %s", q)
	}
}
