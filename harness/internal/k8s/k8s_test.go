package k8s

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/flagstorm/flagstorm/scenarios"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const scenarioDir = "../../../scenarios"

// manifests are the decoded documents of one rendering.
type manifests struct {
	configMaps []corev1.ConfigMap
	services   []corev1.Service
	claims     []corev1.PersistentVolumeClaim
	jobs       map[string]batchv1.Job // by name
}

// decode splits a YAML stream and decodes every document strictly into
// its k8s.io/api type: an unknown or misspelt field, a duplicate key or
// a value of the wrong type is an error.
func decode(stream []byte) (*manifests, error) {
	m := &manifests{jobs: map[string]batchv1.Job{}}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		// As the API server decodes: case-sensitive (encoding/json and
		// sigs.k8s.io/yaml's UnmarshalStrict match field names in any
		// case), unknown and duplicate fields refused.
		strict := func(v any) error {
			j, err := yaml.YAMLToJSONStrict(doc)
			if err != nil {
				return fmt.Errorf("document %d (%s %s): %w", n, tm.APIVersion, tm.Kind, err)
			}
			strictErrs, err := kjson.UnmarshalStrict(j, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
			if err = errors.Join(append(strictErrs, err)...); err != nil {
				return fmt.Errorf("document %d (%s %s): %w", n, tm.APIVersion, tm.Kind, err)
			}
			return nil
		}
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 ConfigMap":
			var o corev1.ConfigMap
			if err := strict(&o); err != nil {
				return nil, err
			}
			m.configMaps = append(m.configMaps, o)
		case "v1 Service":
			var o corev1.Service
			if err := strict(&o); err != nil {
				return nil, err
			}
			m.services = append(m.services, o)
		case "v1 PersistentVolumeClaim":
			var o corev1.PersistentVolumeClaim
			if err := strict(&o); err != nil {
				return nil, err
			}
			m.claims = append(m.claims, o)
		case "batch/v1 Job":
			var o batchv1.Job
			if err := strict(&o); err != nil {
				return nil, err
			}
			m.jobs[o.Name] = o
		default:
			return nil, fmt.Errorf("document %d: unexpected %q %q", n, tm.APIVersion, tm.Kind)
		}
	}
	return m, nil
}

func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

func loadSpec(t *testing.T, name string) (*scenarios.Spec, []byte) {
	t.Helper()
	path := filepath.Join(scenarioDir, name)
	if _, err := os.Stat(filepath.Join("testdata", name)); err == nil {
		path = filepath.Join("testdata", name)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := scenarios.Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return spec, data
}

func baseConfig(t *testing.T, file string, n int) Config {
	spec, data := loadSpec(t, file)
	return Config{
		Spec: spec, ScenarioFile: file, Scenario: data, Parallelism: n,
		Image: "registry.example/flagstorm:v1", Name: DefaultName(spec),
		RunID:     DefaultRunID(DefaultName(spec), time.Date(2026, 12, 7, 14, 5, 0, 0, time.UTC)),
		TargetURL: "http://flagserver.shop.svc:8080",
	}
}

// expand does what the kubelet does to a container's args: $(VAR) is
// replaced by VAR's value when VAR is defined, $$ is a literal $. It also
// returns the variables referenced but not defined (the kubelet would
// leave them as they are).
func expand(s string, env map[string]string) (string, []string) {
	var b strings.Builder
	var missing []string
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String(), missing
			}
			name := s[i+2 : i+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				missing = append(missing, name)
				b.WriteString(s[i : i+end+1])
			}
			i += end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), missing
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func checkLabels(t *testing.T, what string, m map[string]string) {
	t.Helper()
	for k, v := range m {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			t.Errorf("%s: label key %q: %v", what, k, errs)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("%s: label %s value %q: %v", what, k, v, errs)
		}
	}
}

func checkQuantities(t *testing.T, what string, rl corev1.ResourceList, names ...corev1.ResourceName) {
	t.Helper()
	for _, n := range names {
		q, ok := rl[n]
		if !ok {
			t.Errorf("%s: no %s", what, n)
			continue
		}
		if q.Sign() <= 0 {
			t.Errorf("%s: %s = %s, want > 0", what, n, q.String())
		}
	}
}

func mountAt(c corev1.Container, path string) (corev1.VolumeMount, bool) {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return m, true
		}
	}
	return corev1.VolumeMount{}, false
}

func volumeNamed(spec corev1.PodSpec, name string) (corev1.Volume, bool) {
	for _, v := range spec.Volumes {
		if v.Name == name {
			return v, true
		}
	}
	return corev1.Volume{}, false
}

// checkPod checks what runner and merge pods share: non-root, no
// retries, results on the claim.
func checkPod(t *testing.T, what string, spec corev1.PodSpec, claim string) corev1.Container {
	t.Helper()
	if spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("%s: restartPolicy %q, want Never", what, spec.RestartPolicy)
	}
	sc := spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 || sc.FSGroup == nil {
		t.Errorf("%s: pod securityContext %+v: want runAsNonRoot, a non-zero runAsUser and an fsGroup (the claim writable)", what, sc)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the service account token is mounted: the pods need no API access", what)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", what, len(spec.Containers))
	}
	c := spec.Containers[0]
	csc := c.SecurityContext
	if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation || csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: container securityContext %+v: want no privilege escalation and every capability dropped", what, csc)
	}
	checkQuantities(t, what+" requests", c.Resources.Requests, corev1.ResourceCPU, corev1.ResourceMemory)
	checkQuantities(t, what+" limits", c.Resources.Limits, corev1.ResourceMemory)
	if _, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		t.Errorf("%s: a CPU limit: a throttled load generator skews its measures", what)
	}
	m, ok := mountAt(c, ResultsDir)
	if !ok || m.ReadOnly {
		t.Fatalf("%s: %s not mounted writable: %+v", what, ResultsDir, c.VolumeMounts)
	}
	v, ok := volumeNamed(spec, m.Name)
	if !ok || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claim {
		t.Errorf("%s: %s is volume %+v, want claim %s", what, ResultsDir, v, claim)
	}
	for _, m := range c.VolumeMounts {
		if _, ok := volumeNamed(spec, m.Name); !ok {
			t.Errorf("%s: mount %s names no volume %q", what, m.MountPath, m.Name)
		}
	}
	for _, e := range c.Env {
		if e.Value != "" && strings.Contains(strings.ToLower(e.Name), "token") {
			t.Errorf("%s: env %s holds a secret in the manifest", what, e.Name)
		}
	}
	return c
}

func TestRender(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(t *testing.T) Config
	}{
		{"one runner", func(t *testing.T) Config { return baseConfig(t, "baseline.yaml", 1) }},
		{"four runners with faults", func(t *testing.T) Config {
			c := baseConfig(t, "latency.yaml", 4)
			c.ToxiproxyURL = "http://toxiproxy.shop.svc:8474"
			c.Namespace = "load"
			c.EnvSecret = "flagstorm-env"
			return c
		}},
		{"a thousand runners on a given claim", func(t *testing.T) Config {
			c := baseConfig(t, "baseline.yaml", MaxParallelism)
			c.ResultsPVC = "shared-results"
			c.Name = "x" + strings.Repeat("y", MaxNameLen-1)
			c.CPU, c.Memory, c.RendezvousPort, c.ClusterDomain = "250m", "512Mi", 9000, "k8s.example"
			return c
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg(t)
			var buf bytes.Buffer
			if err := Render(&buf, cfg); err != nil {
				t.Fatal(err)
			}
			m, err := decode(buf.Bytes())
			if err != nil {
				t.Fatalf("%v\n%s", err, buf.String())
			}
			checkManifests(t, cfg.withDefaults(), m)
		})
	}
}

func checkManifests(t *testing.T, cfg Config, m *manifests) {
	t.Helper()
	n := cfg.Parallelism
	wantClaims := 0
	if cfg.ResultsPVC == "" {
		wantClaims = 1
	}
	if len(m.configMaps) != 1 || len(m.services) != 1 || len(m.claims) != wantClaims || len(m.jobs) != 2 {
		t.Fatalf("rendered %d ConfigMap(s), %d Service(s), %d claim(s), %d Job(s); want 1, 1, %d, 2",
			len(m.configMaps), len(m.services), len(m.claims), len(m.jobs), wantClaims)
	}
	cm, svc := m.configMaps[0], m.services[0]
	runner, ok := m.jobs[cfg.Name]
	if !ok {
		t.Fatalf("no Job %q", cfg.Name)
	}
	merge, ok := m.jobs[cfg.Name+"-merge"]
	if !ok {
		t.Fatalf("no Job %q", cfg.Name+"-merge")
	}

	// Names: every object's a DNS-1123 subdomain, the Service's a
	// DNS-1035 label, every runner's hostname a DNS-1123 label, Job names
	// fit the job-name label; every label valid; one namespace.
	objs := []metav1.ObjectMeta{cm.ObjectMeta, svc.ObjectMeta, runner.ObjectMeta, merge.ObjectMeta}
	for _, c := range m.claims {
		objs = append(objs, c.ObjectMeta)
	}
	for _, o := range objs {
		if errs := validation.IsDNS1123Subdomain(o.Name); len(errs) > 0 {
			t.Errorf("name %q: %v", o.Name, errs)
		}
		if o.Namespace != cfg.Namespace {
			t.Errorf("%s: namespace %q, want %q", o.Name, o.Namespace, cfg.Namespace)
		}
		checkLabels(t, o.Name, o.Labels)
		for k := range o.Annotations {
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				t.Errorf("%s: annotation %q: %v", o.Name, k, errs)
			}
		}
	}
	if errs := validation.IsDNS1035Label(svc.Name); len(errs) > 0 {
		t.Errorf("Service name %q: %v", svc.Name, errs)
	}
	for _, j := range []batchv1.Job{runner, merge} {
		if errs := validation.IsValidLabelValue(j.Name); len(errs) > 0 {
			t.Errorf("Job %q cannot be its pods' job-name label: %v", j.Name, errs)
		}
		checkLabels(t, j.Name+" pods", j.Spec.Template.Labels)
	}
	for i := range n {
		if h := runner.Name + "-" + strconv.Itoa(i); len(validation.IsDNS1123Label(h)) > 0 {
			t.Errorf("runner %d's hostname %q: %v", i, h, validation.IsDNS1123Label(h))
		}
	}

	// The ConfigMap holds the file as it is.
	if got := cm.Data[cfg.ScenarioFile]; got != string(cfg.Scenario) {
		t.Errorf("ConfigMap %s[%s] differs from the file (%d bytes, want %d)", cm.Name, cfg.ScenarioFile, len(got), len(cfg.Scenario))
	}
	if errs := validation.IsConfigMapKey(cfg.ScenarioFile); len(errs) > 0 {
		t.Errorf("ConfigMap key %q: %v", cfg.ScenarioFile, errs)
	}

	// The runner Job: Indexed, all at once, never retried.
	js := runner.Spec
	if js.CompletionMode == nil || *js.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completionMode %v, want Indexed", js.CompletionMode)
	}
	if js.Completions == nil || *js.Completions != int32(n) || js.Parallelism == nil || *js.Parallelism != int32(n) {
		t.Errorf("completions %v, parallelism %v, want both %d", js.Completions, js.Parallelism, n)
	}
	if js.BackoffLimitPerIndex == nil || *js.BackoffLimitPerIndex != 0 {
		t.Errorf("backoffLimitPerIndex %v, want 0: a runner retried would run its segment twice", js.BackoffLimitPerIndex)
	}
	if js.BackoffLimit != nil && *js.BackoffLimit < int32(n) {
		t.Errorf("backoffLimit %d: the first runner to fail its own slice would fail the Job and kill the others", *js.BackoffLimit)
	}
	if js.ActiveDeadlineSeconds == nil || *js.ActiveDeadlineSeconds < int64((cfg.RendezvousTimeout+cfg.Spec.Duration())/time.Second) {
		t.Errorf("activeDeadlineSeconds %v: shorter than the rendezvous and the load", js.ActiveDeadlineSeconds)
	}
	checkFailurePolicy(t, js.PodFailurePolicy)

	pod := js.Template.Spec
	c := checkPod(t, "runner", pod, cfg.claim())
	// What the API server's validation of these fields asks.
	for _, r := range js.PodFailurePolicy.Rules {
		if e := r.OnExitCodes; e != nil {
			if e.ContainerName == nil || *e.ContainerName != c.Name {
				t.Errorf("podFailurePolicy rule %s names container %v, want %q", r.Action, e.ContainerName, c.Name)
			}
			if !slices.IsSorted(e.Values) || len(slices.Compact(slices.Clone(e.Values))) != len(e.Values) || slices.Contains(e.Values, 0) {
				t.Errorf("podFailurePolicy rule %s: values %v must be sorted, unique and without 0", r.Action, e.Values)
			}
		}
	}
	for _, tsc := range pod.TopologySpreadConstraints {
		sel, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
		if err != nil || !sel.Matches(labels.Set(js.Template.Labels)) {
			t.Errorf("topology spread selector %v does not select the runner pods (%v)", tsc.LabelSelector, err)
		}
	}
	if pod.Subdomain != svc.Name {
		t.Errorf("runner pods' subdomain %q, want the headless Service %q", pod.Subdomain, svc.Name)
	}

	// The headless Service selects the runners, and only them.
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service clusterIP %q, want None (headless)", svc.Spec.ClusterIP)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	if len(svc.Spec.Selector) == 0 || !sel.Matches(labels.Set(js.Template.Labels)) {
		t.Errorf("Service selector %v does not select the runner pods %v", svc.Spec.Selector, js.Template.Labels)
	}
	if sel.Matches(labels.Set(merge.Spec.Template.Labels)) {
		t.Errorf("Service selector %v also selects the merge pod", svc.Spec.Selector)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != int32(cfg.RendezvousPort) {
		t.Errorf("Service ports %+v, want the rendezvous port %d", svc.Spec.Ports, cfg.RendezvousPort)
	}

	// The scenario file is where the args say.
	sm, ok := mountAt(c, ScenarioDir)
	if !ok || !sm.ReadOnly {
		t.Fatalf("runner: %s not mounted read-only", ScenarioDir)
	}
	sv, ok := volumeNamed(pod, sm.Name)
	if !ok || sv.ConfigMap == nil || sv.ConfigMap.Name != cm.Name || len(sv.ConfigMap.Items) != 1 || sv.ConfigMap.Items[0].Key != cfg.ScenarioFile {
		t.Fatalf("runner: %s is volume %+v, want ConfigMap %s's key %s", ScenarioDir, sv, cm.Name, cfg.ScenarioFile)
	}
	scenarioPath := ScenarioDir + "/" + sv.ConfigMap.Items[0].Path

	// The args of every runner, as the kubelet expands them.
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env[e.Name] = "load-ns"
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		default:
			t.Errorf("runner env %s: unexpected source %+v", e.Name, e.ValueFrom)
		}
	}
	wantHost := fmt.Sprintf("%s-0.%s.load-ns.svc.%s:%d", runner.Name, svc.Name, cfg.ClusterDomain, cfg.RendezvousPort)
	outs := map[string]int{}
	for i := range n {
		env["JOB_COMPLETION_INDEX"] = strconv.Itoa(i) // set by Kubernetes in every pod of an Indexed Job
		var args []string
		for _, a := range c.Args {
			x, missing := expand(a, env)
			if len(missing) > 0 {
				t.Fatalf("runner arg %q refers to %v, which the pod does not define", a, missing)
			}
			args = append(args, x)
		}
		if args[0] != "run" || args[len(args)-1] != scenarioPath {
			t.Errorf("runner %d: args %q: want run ... %s", i, args, scenarioPath)
		}
		for flag, want := range map[string]string{
			"runners": strconv.Itoa(n), "runner-index": strconv.Itoa(i), "rendezvous": wantHost,
			"out": cfg.RunDir() + "/" + strconv.Itoa(i), "target-url": cfg.TargetURL,
		} {
			if got, ok := flagValue(args, flag); !ok || got != want {
				t.Errorf("runner %d: --%s=%q, want %q", i, flag, got, want)
			}
		}
		if got, _ := flagValue(args, "toxiproxy-url"); got != cfg.ToxiproxyURL {
			t.Errorf("runner %d: --toxiproxy-url=%q, want %q", i, got, cfg.ToxiproxyURL)
		}
		if got, _ := flagValue(args, "rendezvous-timeout"); got != cfg.RendezvousTimeout.String() {
			t.Errorf("runner %d: --rendezvous-timeout=%q", i, got)
		}
		out, _ := flagValue(args, "out")
		outs[out] = i
	}
	if len(outs) != n {
		t.Errorf("%d runners write to %d directories", n, len(outs))
	}
	if cfg.EnvSecret != "" {
		if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != cfg.EnvSecret {
			t.Errorf("runner envFrom %+v, want Secret %s", c.EnvFrom, cfg.EnvSecret)
		}
	} else if len(c.EnvFrom) > 0 {
		t.Errorf("runner envFrom %+v without --env-secret", c.EnvFrom)
	}

	// The merge Job: suspended until the runners are done, never retried,
	// merging exactly the runners' directories.
	ms := merge.Spec
	if ms.Suspend == nil || !*ms.Suspend {
		t.Errorf("merge Job not suspended: it would start before the runners have written their results")
	}
	if ms.BackoffLimit == nil || *ms.BackoffLimit != 0 {
		t.Errorf("merge backoffLimit %v, want 0", ms.BackoffLimit)
	}
	mc := checkPod(t, "merge", ms.Template.Spec, cfg.claim())
	if mc.Args[0] != "merge" {
		t.Errorf("merge args %q", mc.Args)
	}
	if got, _ := flagValue(mc.Args, "out"); got != cfg.RunDir()+"/merged" {
		t.Errorf("merge --out=%q", got)
	}
	var dirs []string
	for _, a := range mc.Args[1:] {
		if !strings.HasPrefix(a, "-") {
			dirs = append(dirs, a)
		}
	}
	if len(dirs) != n {
		t.Errorf("merge reads %d directories, want %d", len(dirs), n)
	}
	for _, d := range dirs {
		if _, ok := outs[d]; !ok {
			t.Errorf("merge reads %s, which no runner writes", d)
		}
	}
	flagsDone := false
	for _, a := range mc.Args[1:] {
		if !strings.HasPrefix(a, "-") {
			flagsDone = true
		} else if flagsDone {
			t.Errorf("merge args %q: flag %s after a directory (Go's flag package stops at the first one)", mc.Args, a)
		}
	}

	// The claim, when rendered: shared by every pod.
	for _, pvc := range m.claims {
		if pvc.Name != cfg.claim() || !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
			t.Errorf("claim %s %v, want %s ReadWriteMany", pvc.Name, pvc.Spec.AccessModes, cfg.claim())
		}
		checkQuantities(t, "claim", pvc.Spec.Resources.Requests, corev1.ResourceStorage)
	}
}

// checkFailurePolicy: a runner that judged its own slice (1, 3) fails its
// index only; anything else, and a disruption, fails the Job.
func checkFailurePolicy(t *testing.T, p *batchv1.PodFailurePolicy) {
	t.Helper()
	if p == nil {
		t.Fatal("no podFailurePolicy")
	}
	action := func(code int32) batchv1.PodFailurePolicyAction {
		for _, r := range p.Rules {
			if r.OnExitCodes == nil {
				continue
			}
			in := slices.Contains(r.OnExitCodes.Values, code)
			if (r.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
				return r.Action
			}
		}
		return ""
	}
	for code, want := range map[int32]batchv1.PodFailurePolicyAction{
		1: batchv1.PodFailurePolicyActionFailIndex, 3: batchv1.PodFailurePolicyActionFailIndex,
		2: batchv1.PodFailurePolicyActionFailJob, 4: batchv1.PodFailurePolicyActionFailJob,
		130: batchv1.PodFailurePolicyActionFailJob, 137: batchv1.PodFailurePolicyActionFailJob,
	} {
		if got := action(code); got != want {
			t.Errorf("exit %d: podFailurePolicy action %q, want %q", code, got, want)
		}
	}
	disrupted := false
	for _, r := range p.Rules {
		for _, c := range r.OnPodConditions {
			if c.Type == corev1.DisruptionTarget && r.Action == batchv1.PodFailurePolicyActionFailJob {
				disrupted = true
			}
		}
	}
	if !disrupted {
		t.Error("a disrupted runner (evicted, preempted) does not fail the Job: its segment would be lost or run twice")
	}
}

// TestDecodeIsStrict: the decoder the tests rely on refuses a misspelt
// field, a misplaced one and a value of the wrong type.
func TestDecodeIsStrict(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, baseConfig(t, "baseline.yaml", 2)); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	if _, err := decode([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"misspelt":    {"backoffLimitPerIndex:", "backofLimitPerIndex:"},
		"wrong case":  {"backoffLimitPerIndex:", "backoffLimitPerindex:"},
		"duplicate":   {"  completions: 2", "  completions: 2\n  completions: 2"},
		"misplaced":   {"      subdomain:", "      subdomain: x\n      hostnam:"},
		"wrong type":  {"completions: 2", "completions: two"},
		"wrong kind":  {"kind: Service", "kind: Servic"},
		"unknown key": {"  clusterIP: None", "  clusterIP: None\n  headless: true"},
	} {
		bad := strings.Replace(good, edit[0], edit[1], 1)
		if bad == good {
			t.Fatalf("%s: %q not in the rendering", name, edit[0])
		}
		if _, err := decode([]byte(bad)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestValidate(t *testing.T) {
	faulty, faultyData := loadSpec(t, "redis-latency.yaml")
	actions, actionsData := loadSpec(t, "cache-stampede.yaml")
	cold, coldData := loadSpec(t, "cold-start.yaml")
	tests := []struct {
		name string
		edit func(c *Config)
		want []string // each in the error
	}{
		{"no runners", func(c *Config) { c.Parallelism = 0 }, []string{"parallelism 0: want 1 to 1000"}},
		{"negative", func(c *Config) { c.Parallelism = -3 }, []string{"parallelism -3"}},
		{"too many", func(c *Config) { c.Parallelism = MaxParallelism + 1 }, []string{"parallelism 1001"}},
		{"no image", func(c *Config) { c.Image = "" }, []string{"image: required"}},
		{"image with a space", func(c *Config) { c.Image = "a b" }, []string{`image "a b"`}},
		{"upper-case name", func(c *Config) { c.Name = "Load" }, []string{`name "Load": want a DNS-1035 label`}},
		{"name starting with a digit", func(c *Config) { c.Name = "1load" }, []string{`name "1load"`}},
		{"name ending with a dash", func(c *Config) { c.Name = "load-" }, []string{`name "load-"`}},
		{"name too long", func(c *Config) { c.Name = strings.Repeat("a", MaxNameLen+1) }, []string{"at most 57"}},
		{"no name", func(c *Config) { c.Name = "" }, []string{`name ""`}},
		{"bad namespace", func(c *Config) { c.Namespace = "Load_Tests" }, []string{`namespace "Load_Tests"`}},
		{"run id with a slash", func(c *Config) { c.RunID = "../etc" }, []string{`run-id "../etc"`}},
		{"no target", func(c *Config) { c.TargetURL = "" }, []string{"target-url: required"}},
		{"target not http", func(c *Config) { c.TargetURL = "redis://x:6379" }, []string{`target-url "redis://x:6379": want an http`}},
		{"target with a password", func(c *Config) { c.TargetURL = "http://u:hunter22@x:8080" }, []string{"target-url", "carries a secret", "FLAGSTORM_TARGET_URL", "--env-secret"}},
		{"toxiproxy with a token", func(c *Config) { c.ToxiproxyURL = "http://x:8474?token=abcdef" }, []string{"toxiproxy-url", "carries a secret"}},
		{"bad secret name", func(c *Config) { c.EnvSecret = "My Secret" }, []string{`env-secret "My Secret"`}},
		{"bad claim name", func(c *Config) { c.ResultsPVC = "Results" }, []string{`results-pvc "Results"`}},
		{"cpu not a quantity", func(c *Config) { c.CPU = "two" }, []string{`cpu "two"`}},
		{"zero cpu", func(c *Config) { c.CPU = "0" }, []string{`cpu "0"`}},
		{"negative memory", func(c *Config) { c.Memory = "-1Gi" }, []string{`memory "-1Gi"`}},
		{"bad size", func(c *Config) { c.ResultsSize = "1GB" }, []string{`results-size "1GB"`}},
		{"port out of range", func(c *Config) { c.RendezvousPort = 70000 }, []string{"rendezvous-port 70000"}},
		{"short rendezvous", func(c *Config) { c.RendezvousTimeout = time.Millisecond }, []string{"rendezvous-timeout 1ms"}},
		{"file name with a space", func(c *Config) { c.ScenarioFile = "my scenario.yaml" }, []string{`scenario file "my scenario.yaml"`}},
		{"file too big", func(c *Config) { c.Scenario = bytes.Repeat([]byte("#\n"), MaxScenarioBytes) }, []string{"more than a ConfigMap holds"}},
		{"not UTF-8", func(c *Config) { c.Scenario = []byte{0xff, 0xfe} }, []string{"not UTF-8"}},
		{"faults without toxiproxy", func(c *Config) {
			c.Spec, c.Scenario, c.ScenarioFile = faulty, faultyData, "redis-latency.yaml"
		}, []string{"redis-latency.yaml:", "has a fault: give --toxiproxy-url"}},
		{"actions", func(c *Config) {
			c.Spec, c.Scenario, c.ScenarioFile = actions, actionsData, "cache-stampede.yaml"
		}, []string{"cache-stampede.yaml:", `phase "flush-1" does flush`}},
		{"a cold start", func(c *Config) {
			c.Spec, c.Scenario, c.ScenarioFile, c.ToxiproxyURL = cold, coldData, "cold-start.yaml", "http://toxiproxy:8474"
		}, []string{"cold-start.yaml: target.start starts the flagservers at phase"}},
		{"every problem at once", func(c *Config) { c.Parallelism, c.Image, c.Name = 0, "", "X" }, []string{"parallelism 0", "image: required", `name "X"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := baseConfig(t, "baseline.yaml", 3)
			if err := c.Validate(); err != nil {
				t.Fatalf("the base config: %v", err)
			}
			tc.edit(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant %q in it", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter22") || strings.Contains(err.Error(), "abcdef") {
				t.Errorf("the error shows the secret: %v", err)
			}
			if err := Render(io.Discard, c); err == nil {
				t.Error("Render rendered an invalid config")
			}
		})
	}
}

// TestDefaults: the CLI's defaults are valid names whatever the scenario.
func TestDefaults(t *testing.T) {
	spec := &scenarios.Spec{Name: strings.Repeat("long-name-", 10)}
	n := DefaultName(spec)
	if len(n) > MaxNameLen || len(validation.IsDNS1035Label(n)) > 0 || strings.HasSuffix(n, "-") {
		t.Errorf("DefaultName = %q (%d): %v", n, len(n), validation.IsDNS1035Label(n))
	}
	id := DefaultRunID(n, time.Date(2026, 12, 7, 14, 5, 9, 0, time.FixedZone("x", 3600)))
	if !strings.HasSuffix(id, "-20261207-130509") || !regexp.MustCompile(`^[a-z0-9.-]+$`).MatchString(id) {
		t.Errorf("DefaultRunID = %q", id)
	}
	for _, q := range []string{"1", "500m", "1.5", "512Mi", "2Gi", "100k", ".5"} {
		if !quantity.MatchString(q) {
			t.Errorf("quantity %q refused", q)
		}
		if _, err := resource.ParseQuantity(q); err != nil {
			t.Errorf("our quantity %q is not Kubernetes': %v", q, err)
		}
	}
}

// TestGolden: the rendering of a fixed config, for review (go test
// -update rewrites it).
func TestGolden(t *testing.T) {
	c := baseConfig(t, "latency.yaml", 4)
	c.ToxiproxyURL = "http://toxiproxy.shop.svc:8474"
	c.EnvSecret = "flagstorm-env"
	var buf bytes.Buffer
	if err := Render(&buf, c); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "latency-4.golden.yaml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("the rendering differs from %s (go test -update rewrites it after review):\n%s", golden, buf.String())
	}
}

// TestImage: the pods run as the image's user, and rely on its entrypoint
// being flagstorm (the manifests give args only): harness/Dockerfile's
// flagstorm stage must say so.
func TestImage(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stage []string
	in := false
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "FROM ") {
			in = strings.HasSuffix(line, " AS flagstorm")
			continue
		}
		if in {
			stage = append(stage, line)
		}
	}
	if len(stage) == 0 {
		t.Fatal("harness/Dockerfile has no stage named flagstorm")
	}
	user := fmt.Sprintf("USER %d:%d", RunAsUser, RunAsUser)
	if !slices.Contains(stage, user) {
		t.Errorf("the flagstorm stage has no %q: the pods' runAsUser would not be the image's user\n%s", user, strings.Join(stage, "\n"))
	}
	var entrypoint string
	for _, l := range stage {
		if e, ok := strings.CutPrefix(l, "ENTRYPOINT "); ok {
			entrypoint = e
		}
	}
	if !regexp.MustCompile(`^\["[^"]*/flagstorm"\]$`).MatchString(entrypoint) {
		t.Errorf("the flagstorm stage's ENTRYPOINT is %q, want flagstorm alone: the Jobs give args only", entrypoint)
	}
}
