package gate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const examplesDir = "../../../docs/examples"

func readDocs(t *testing.T, name string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		docs = append(docs, d)
	}
}

// dig follows keys (string) and indexes (int) into decoded YAML.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: want a mapping, got %T", p, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: want a list longer than %d, got %v", p, k, v)
			}
			v = l[k]
		}
	}
	return v
}

// jsonFields returns the JSON names of a struct's fields.
func jsonFields(v any) map[string]bool {
	out := map[string]bool{}
	rt := reflect.TypeOf(v)
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		out[name] = true
	}
	return out
}

// TestGateExamplesArgo checks docs/examples/argo-analysistemplate.yaml
// against the server: the URL and method are its route, the jsonBody is
// a valid request, jsonPath names the summary object, and the conditions
// read fields the summary has, so that go is Successful, no-go Failed and
// inconclusive neither (Inconclusive).
func TestGateExamplesArgo(t *testing.T) {
	docs := readDocs(t, "argo-analysistemplate.yaml")
	if len(docs) != 2 || docs[0]["kind"] != "AnalysisTemplate" || docs[1]["kind"] != "Rollout" {
		t.Fatalf("want an AnalysisTemplate and a Rollout, got %d documents", len(docs))
	}
	metric := dig(t, docs[0], "spec", "metrics", 0)
	web := dig(t, metric, "provider", "web").(map[string]any)
	u, err := url.Parse(web["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if got := web["method"].(string) + " " + u.Path; got != RouteEvaluate {
		t.Errorf("web provider calls %q; the server serves %q", got, RouteEvaluate)
	}
	if web["jsonPath"] != "{$.summary}" || !jsonFields(Result{})["summary"] {
		t.Errorf("jsonPath %v; want {$.summary}, a field of the result", web["jsonPath"])
	}
	body, err := json.Marshal(web["jsonBody"])
	if err != nil {
		t.Fatal(err)
	}
	// What Argo substitutes: pod template hashes.
	body = bytes.ReplaceAll(body, []byte("{{args.canary-hash}}"), []byte("canary-5d8f9c7b6"))
	body = bytes.ReplaceAll(body, []byte("{{args.stable-hash}}"), []byte("7c9b8d6f5"))
	summaryFields := jsonFields(Summary{})
	cond := regexp.MustCompile(`^result\.([a-zA-Z]+) == "([a-z-]+)"$`)
	conditions := map[string]Verdict{}
	for _, key := range []string{"successCondition", "failureCondition"} {
		m := cond.FindStringSubmatch(metric.(map[string]any)[key].(string))
		if m == nil || !summaryFields[m[1]] {
			t.Fatalf("%s %q: want result.<summary field> == \"verdict\"", key, metric.(map[string]any)[key])
		}
		v, err := ParseVerdict(m[2])
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		conditions[key] = v
	}
	if conditions["successCondition"] != Go || conditions["failureCondition"] != NoGo {
		t.Errorf("conditions %v; want success on go, failure on no-go (inconclusive meets neither)", conditions)
	}
	if il := dig(t, metric, "inconclusiveLimit"); il != 0 {
		t.Errorf("inconclusiveLimit %v; want 0 so that one inconclusive measurement pauses the rollout", il)
	}
	// The body the template sends, answered by the real server.
	for _, tc := range []struct {
		values map[string]map[string]float64
		want   Verdict
	}{{goValues, Go}, {noGoValues, NoGo}, {lowTraffic, Inconclusive}} {
		hs, _, _ := newTestServer(t, tc.values)
		status, b := post(t, hs.URL+"/v1/evaluate", "application/json", string(body))
		var doc map[string]any
		if err := json.Unmarshal([]byte(b), &doc); status != 200 || err != nil {
			t.Fatalf("template's request: %d %s", status, b)
		}
		summary := doc["summary"].(map[string]any)
		if summary["verdict"] != tc.want.String() {
			t.Errorf("summary.verdict %v; want %v", summary["verdict"], tc.want)
		}
	}
}

// TestGateExamplesFlagger checks docs/examples/flagger-canary.yaml: every
// webhook calls the server's route for its own type with metadata the
// server accepts.
func TestGateExamplesFlagger(t *testing.T) {
	docs := readDocs(t, "flagger-canary.yaml")
	if len(docs) != 1 || docs[0]["kind"] != "Canary" {
		t.Fatalf("want one Canary")
	}
	hooks := dig(t, docs[0], "spec", "analysis", "webhooks").([]any)
	if len(hooks) < 4 {
		t.Fatalf("%d webhooks; want the gate on several hook types", len(hooks))
	}
	hs, _, _ := newTestServer(t, goValues)
	name, ns := dig(t, docs[0], "metadata", "name").(string), dig(t, docs[0], "metadata", "namespace").(string)
	for _, h := range hooks {
		hm := h.(map[string]any)
		hook, err := ParseHook(hm["type"].(string))
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(hm["url"].(string))
		if err != nil || u.Path != "/v1/flagger/"+string(hook) {
			t.Errorf("%s: url %v; want path /v1/flagger/%s", hm["name"], hm["url"], hook)
		}
		meta, err := json.Marshal(hm["metadata"])
		if err != nil {
			t.Fatal(err)
		}
		payload := `{"name":"` + name + `","namespace":"` + ns + `","phase":"Progressing","checksum":"x","metadata":` + string(meta) + `}`
		status, b := post(t, hs.URL+u.Path, "application/json", payload)
		if status != 200 && !(hook == HookRollback && status == 409) {
			t.Errorf("%s: %d %q; want the hook accepted (200 on go, 409 no rollback)", hm["name"], status, b)
		}
	}
}

func TestGateExamplesConfig(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join(examplesDir, "gate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Flagger = cfg.Flagger
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("docs/examples/gate.yaml drifted from Default():\n%+v\n%+v", cfg, want)
	}
	if cfg.Flagger.Canary == "" || cfg.Flagger.Baseline == "" {
		t.Errorf("the example should show the Flagger templates")
	}
}

// TestGateExamplesNetworkPolicy checks docs/examples/gate-networkpolicy.yaml:
// one NetworkPolicy, ingress only, to the gate's port, from pods each
// pinned by both a namespace and a pod selector (a bare namespaceSelector
// would admit every pod of that namespace), among them Argo Rollouts' and
// Flagger's controllers.
func TestGateExamplesNetworkPolicy(t *testing.T) {
	docs := readDocs(t, "gate-networkpolicy.yaml")
	if len(docs) != 1 || docs[0]["kind"] != "NetworkPolicy" || docs[0]["apiVersion"] != "networking.k8s.io/v1" {
		t.Fatalf("want one networking.k8s.io/v1 NetworkPolicy, got %d documents", len(docs))
	}
	np := docs[0]
	if types := dig(t, np, "spec", "policyTypes").([]any); len(types) != 1 || types[0] != "Ingress" {
		t.Errorf("policyTypes %v; want [Ingress]", types)
	}
	if dig(t, np, "spec", "podSelector", "matchLabels") == nil {
		t.Error("spec.podSelector selects no pods by label: it would apply to the whole namespace")
	}
	rules := dig(t, np, "spec", "ingress").([]any)
	if len(rules) != 1 {
		t.Fatalf("%d ingress rules; want 1", len(rules))
	}
	ports := dig(t, rules[0], "ports").([]any)
	if len(ports) != 1 || dig(t, ports[0], "port") != 9470 || dig(t, ports[0], "protocol") != "TCP" {
		t.Errorf("ports %v; want TCP 9470, the gate's port in the Argo and Flagger examples", ports)
	}
	controllers := map[string]bool{}
	for _, from := range dig(t, rules[0], "from").([]any) {
		ns := dig(t, from, "namespaceSelector", "matchLabels")
		pod := dig(t, from, "podSelector", "matchLabels")
		if ns == nil || pod == nil {
			t.Errorf("from %v: want both a namespaceSelector and a podSelector", from)
			continue
		}
		controllers[dig(t, pod, "app.kubernetes.io/name").(string)] = true
	}
	for _, want := range []string{"argo-rollouts", "flagger"} {
		if !controllers[want] {
			t.Errorf("the policy does not admit %s's controller (admits %v)", want, controllers)
		}
	}
}
