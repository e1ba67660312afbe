// Package k8s renders the Kubernetes manifests of a distributed run
// (flagstorm k8s render): a ConfigMap holding the scenario file, a
// headless Service through which the runners find the leader for the
// shared start, an Indexed Job with one runner per completion index
// (runner I of N runs segment I/N:(I+1)/N), a ReadWriteMany claim for
// their results unless one is given, and a merge Job, created suspended,
// that judges the merged run once the runners have finished.
//
// The manifests are written from this package's own structs (objects.go),
// not from k8s.io/api: the binary stays free of the API machinery, and
// the tests decode every document strictly into k8s.io/api's types, so a
// field the API does not know fails the tests, not a user's kubectl.
//
// Why the runner Job is shaped as it is:
//   - backoffLimitPerIndex 0: no runner is ever retried. A retried runner
//     would run its segment a second time, after the shared start, and the
//     merge would count its iterations twice. The per-index limit rather
//     than backoffLimit 0 because with backoffLimit 0 the first runner to
//     exit non-zero (its own slice's thresholds: exit 1 or 3) fails the
//     Job, and Kubernetes then kills the runners still writing their
//     results.
//   - podFailurePolicy: exit 1 or 3 (the runner judged its own slice, its
//     raw material is written) fails only that index: the others go on,
//     and the merge judges the whole. Any other failure (2: bad input, 4:
//     could not run, a signal, OOM) and a disruption (eviction,
//     preemption) fail the Job at once: the run cannot be whole, so the
//     other runners' load stops too.
//   - completions = parallelism = N: every runner must be up at once for
//     the shared start.
package k8s

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/flagstorm/flagstorm/harness/internal/exitcode"
	"github.com/flagstorm/flagstorm/internal/secret"
	"github.com/flagstorm/flagstorm/scenarios"
)

// Limits and defaults.
const (
	// MaxParallelism bounds the runners of one run: every one registers
	// with the leader for the shared start.
	MaxParallelism = 1000
	// MaxNameLen keeps every name derived from Name within a DNS label:
	// the merge Job's Name-merge (its pods' job-name label, 63) and the
	// runners' hostnames Name-<index>.
	MaxNameLen = 57
	// DefaultRendezvousPort is where the leader listens for the shared start.
	DefaultRendezvousPort = 7070
	// DefaultRendezvousTimeout is how long runners wait for each other:
	// longer than run's own default (2m), for pods scheduled on fresh
	// nodes that pull the image first.
	DefaultRendezvousTimeout = 5 * time.Minute
	// DeadlineMargin is added to the rendezvous timeout and the load's
	// planned length for the runner Job's activeDeadlineSeconds: the
	// measures after the load, the reports, and slow starts.
	DeadlineMargin = 10 * time.Minute
	// MergeDeadline bounds the merge Job once it is resumed.
	MergeDeadline = 15 * time.Minute
	// MaxScenarioBytes keeps the ConfigMap under the API's 1 MiB object limit.
	MaxScenarioBytes = 900 << 10
	// RunAsUser is the image's non-root user (harness/Dockerfile's
	// flagstorm stage: uid and gid 10001).
	RunAsUser = 10001
)

// Paths inside the pods.
const (
	ScenarioDir = "/scenario"
	ResultsDir  = "/results"
)

// Config is one distributed run to render. The CLI fills it from flags;
// Validate says what is wrong with it, every problem at once.
type Config struct {
	// Spec is the parsed scenario file: its name, its load's length, its
	// faults and actions. Required.
	Spec *scenarios.Spec
	// ScenarioFile is the scenario's file name (its base name): the
	// ConfigMap's key and the file under /scenario. Required.
	ScenarioFile string
	// Scenario is the file's content, put in the ConfigMap as it is.
	Scenario []byte
	// Parallelism is the number of runners, 1 to MaxParallelism.
	Parallelism int
	// Image is the flagstorm image (its entrypoint flagstorm). Required.
	Image string
	// Name names every object: the runner Job and its headless Service are
	// Name, the merge Job Name-merge, the ConfigMap Name-scenario, the
	// claim (when rendered) Name-results. A DNS-1035 label of at most
	// MaxNameLen characters. Required (the CLI derives it from the
	// scenario's name: DefaultName).
	Name string
	// Namespace of every object; "" leaves it to kubectl (its current
	// namespace). The runners find it through the downward API either way.
	Namespace string
	// RunID names the run's results directory, /results/<RunID>: each
	// runner writes /results/<RunID>/<index>, the merge
	// /results/<RunID>/merged. Required (the CLI derives it: DefaultRunID).
	RunID string
	// TargetURL is the running service the runners drive (run's
	// --target-url; comma-separated for several). Required unless
	// EnvSecret gives FLAGSTORM_TARGET_URL. A URL carrying a password is
	// refused: the Job's args are readable by whoever can read Jobs.
	TargetURL string
	// ToxiproxyURL is the Toxiproxy API in front of the service's
	// backends; only the runner owning index 0 applies the faults.
	// Required when the scenario has faults (unless EnvSecret gives
	// FLAGSTORM_TOXIPROXY_URL).
	ToxiproxyURL string
	// EnvSecret names a Secret whose keys become the runners' environment
	// (envFrom): FLAGSTORM_ADMIN_TOKEN, FLAGSTORM_REDIS_PASSWORD,
	// FLAGSTORM_DATABASE_URL, or a target URL with a password in it. ""
	// for none.
	EnvSecret string
	// ResultsPVC is an existing claim the runners and the merge share
	// (ReadWriteMany, or ReadWriteOnce on a one-node cluster). "" renders
	// a ReadWriteMany claim Name-results of ResultsSize.
	ResultsPVC string
	// ResultsSize is the rendered claim's size; "" means 1Gi.
	ResultsSize string
	// StorageClass of the rendered claim; "" means the cluster's default.
	StorageClass string
	// CPU and Memory are each runner's requests ("" means 1 and 1Gi);
	// memory is also its limit. No CPU limit: throttling a load generator
	// delays its requests and skews what it measures.
	CPU, Memory string
	// RendezvousPort is the leader's port for the shared start; 0 means
	// DefaultRendezvousPort.
	RendezvousPort int
	// RendezvousTimeout is how long runners wait for each other; 0 means
	// DefaultRendezvousTimeout.
	RendezvousTimeout time.Duration
	// ClusterDomain is the cluster's DNS domain; "" means cluster.local.
	ClusterDomain string
}

// DefaultName is the name of a scenario's run: flagstorm-<scenario name>,
// cut to MaxNameLen.
func DefaultName(spec *scenarios.Spec) string {
	n := "flagstorm-" + spec.Name
	if len(n) > MaxNameLen {
		n = n[:MaxNameLen]
	}
	return strings.TrimRight(n, "-")
}

// DefaultRunID is a run id unique to the second: <name>-<UTC time>.
func DefaultRunID(name string, now time.Time) string {
	return name + "-" + now.UTC().Format("20060102-150405")
}

// withDefaults returns c with its zero values defaulted.
func (c Config) withDefaults() Config {
	if c.ResultsSize == "" {
		c.ResultsSize = "1Gi"
	}
	if c.CPU == "" {
		c.CPU = "1"
	}
	if c.Memory == "" {
		c.Memory = "1Gi"
	}
	if c.RendezvousPort == 0 {
		c.RendezvousPort = DefaultRendezvousPort
	}
	if c.RendezvousTimeout == 0 {
		c.RendezvousTimeout = DefaultRendezvousTimeout
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	return c
}

var (
	dns1035Label     = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	configMapKey     = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
	runID            = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9._]*[A-Za-z0-9])?$`)
	// quantity is the plain form of a Kubernetes quantity: a decimal
	// number and an optional SI or binary suffix (no exponents).
	quantity = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$`)
)

// Validate returns every problem of c (defaults applied), each naming its
// field as the CLI's flag does.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Spec == nil {
		bad("no scenario")
	}
	switch {
	case c.ScenarioFile == "":
		bad("scenario file: no name")
	case c.ScenarioFile == "." || c.ScenarioFile == ".." || len(c.ScenarioFile) > 253 || !configMapKey.MatchString(c.ScenarioFile):
		bad("scenario file %q: its name must be letters, digits, '-', '_' and '.' only (a ConfigMap key): rename or copy it", c.ScenarioFile)
	}
	switch {
	case len(c.Scenario) > MaxScenarioBytes:
		bad("scenario file %s: %d bytes, more than a ConfigMap holds (%d)", c.ScenarioFile, len(c.Scenario), MaxScenarioBytes)
	case !utf8.Valid(c.Scenario):
		bad("scenario file %s: not UTF-8 text", c.ScenarioFile)
	}
	if c.Parallelism < 1 || c.Parallelism > MaxParallelism {
		bad("parallelism %d: want 1 to %d runners", c.Parallelism, MaxParallelism)
	}
	switch {
	case strings.TrimSpace(c.Image) == "":
		bad("image: required (build it with harness/Dockerfile's flagstorm stage and push it where the cluster pulls from)")
	case strings.IndexFunc(c.Image, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		bad("image %q: spaces or control characters", c.Image)
	}
	if c.Name == "" || len(c.Name) > MaxNameLen || !dns1035Label.MatchString(c.Name) {
		bad("name %q: want a DNS-1035 label of at most %d characters (lower-case letters, digits and '-', starting with a letter, not ending with '-')", c.Name, MaxNameLen)
	}
	if c.Namespace != "" && (len(c.Namespace) > 63 || !dns1123Label.MatchString(c.Namespace)) {
		bad("namespace %q: want a DNS-1123 label (lower-case letters, digits and '-', at most 63)", c.Namespace)
	}
	if len(c.RunID) > 128 || !runID.MatchString(c.RunID) {
		bad("run-id %q: want letters, digits, '-', '_' and '.' (a directory name), at most 128, starting and ending with a letter or digit", c.RunID)
	}
	for _, s := range []struct{ field, value string }{{"env-secret", c.EnvSecret}, {"results-pvc", c.ResultsPVC}, {"storage-class", c.StorageClass}} {
		if s.value != "" && (len(s.value) > 253 || !dns1123Subdomain.MatchString(s.value)) {
			bad("%s %q: want a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')", s.field, s.value)
		}
	}
	if c.TargetURL == "" && c.EnvSecret == "" {
		bad("target-url: required: a runner in a pod drives a running service (or give --env-secret, its Secret holding FLAGSTORM_TARGET_URL)")
	}
	errs = append(errs, checkURLs("target-url", c.TargetURL)...)
	errs = append(errs, checkURLs("toxiproxy-url", c.ToxiproxyURL)...)
	for _, q := range []struct{ field, value string }{{"cpu", c.CPU}, {"memory", c.Memory}, {"results-size", c.ResultsSize}} {
		if !quantity.MatchString(q.value) || strings.Trim(q.value, "0.mkMGTPEi") == "" {
			bad("%s %q: want a positive Kubernetes quantity, like 500m, 2, 512Mi or 1Gi", q.field, q.value)
		}
	}
	if c.RendezvousPort < 1 || c.RendezvousPort > 65535 {
		bad("rendezvous-port %d: want 1 to 65535", c.RendezvousPort)
	}
	if c.RendezvousTimeout < time.Second {
		bad("rendezvous-timeout %s: want at least 1s", c.RendezvousTimeout)
	}
	if c.ClusterDomain != "" && !dns1123Subdomain.MatchString(c.ClusterDomain) {
		bad("cluster-domain %q: want a DNS name, like cluster.local", c.ClusterDomain)
	}
	if c.Spec != nil {
		errs = append(errs, c.checkSpec()...)
	}
	return errors.Join(errs...)
}

// checkURLs checks a comma-separated list of http(s) URLs that end up in
// the Job's args.
func checkURLs(field, list string) []error {
	var errs []error
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			errs = append(errs, fmt.Errorf("%s %q: want an http:// or https:// URL with a host", field, secret.URL(raw)))
		case len(secret.InURL(raw)) > 0:
			errs = append(errs, fmt.Errorf("%s %q carries a secret, which would be written into the Job's args (readable by whoever can read Jobs): put %s in the Secret given by --env-secret instead",
				field, secret.URL(raw), "FLAGSTORM_"+strings.ToUpper(strings.ReplaceAll(field, "-", "_"))))
		}
	}
	return errs
}

// checkSpec refuses what a runner in a pod cannot do: it drives a
// running service, so it cannot act on the local stack's Redis or start
// the service itself.
func (c Config) checkSpec() []error {
	var errs []error
	if c.Spec.Target.Start != "" {
		errs = append(errs, fmt.Errorf("%s: target.start starts the flagservers at phase %q, which needs the local stack (a runner in Kubernetes drives a running service): run this scenario with flagstorm run on one machine",
			c.ScenarioFile, c.Spec.Target.Start))
	}
	for _, p := range c.Spec.Timeline {
		if p.Action != 0 {
			errs = append(errs, fmt.Errorf("%s:%d: phase %q does %s to the local stack's Redis, which a runner in Kubernetes does not have (it drives a running service): run this scenario with flagstorm run on one machine",
				c.ScenarioFile, p.Line, p.Name, p.Action))
		}
		if p.Fault != nil && c.ToxiproxyURL == "" && c.EnvSecret == "" {
			errs = append(errs, fmt.Errorf("%s:%d: phase %q has a fault: give --toxiproxy-url, the Toxiproxy API in front of the service's backends (the runner owning index 0 applies it)",
				c.ScenarioFile, p.Line, p.Name))
		}
	}
	return errs
}

// Names of the rendered objects.
func (c Config) scenarioConfigMap() string { return c.Name + "-scenario" }
func (c Config) mergeJob() string          { return c.Name + "-merge" }

func (c Config) claim() string {
	if c.ResultsPVC != "" {
		return c.ResultsPVC
	}
	return c.Name + "-results"
}

// RunDir is the run's results directory in the pods.
func (c Config) RunDir() string { return ResultsDir + "/" + c.RunID }

// RendezvousAddr is the leader's address: runner 0's stable hostname
// under the headless Service, fully qualified so that runner 0 resolves
// it from its own /etc/hosts (kubelet writes it there) before the
// cluster's DNS publishes it. POD_NAMESPACE comes from the downward API.
func (c Config) RendezvousAddr() string {
	c = c.withDefaults()
	return fmt.Sprintf("%s-0.%s.$(POD_NAMESPACE).svc.%s:%d", c.Name, c.Name, c.ClusterDomain, c.RendezvousPort)
}

// RunnerArgs are the runner container's args: flagstorm run with its
// segment by index. $(JOB_COMPLETION_INDEX), set by Kubernetes in an
// Indexed Job's pods, and $(POD_NAMESPACE) are expanded by the kubelet.
func (c Config) RunnerArgs() []string {
	c = c.withDefaults()
	args := []string{"run",
		"--runners=" + strconv.Itoa(c.Parallelism),
		"--runner-index=$(JOB_COMPLETION_INDEX)",
		"--rendezvous=" + c.RendezvousAddr(),
		"--rendezvous-timeout=" + c.RendezvousTimeout.String(),
	}
	if c.TargetURL != "" {
		args = append(args, "--target-url="+c.TargetURL)
	}
	if c.ToxiproxyURL != "" {
		args = append(args, "--toxiproxy-url="+c.ToxiproxyURL)
	}
	return append(args,
		"--out="+c.RunDir()+"/$(JOB_COMPLETION_INDEX)",
		"--quiet",
		ScenarioDir+"/"+c.ScenarioFile)
}

// MergeArgs are the merge container's args: every runner's directory,
// named one by one, so that a runner that left nothing is named by the
// merge (there is no shell in the pod to expand a glob).
func (c Config) MergeArgs() []string {
	args := []string{"merge", "--out=" + c.RunDir() + "/merged"}
	for i := range c.Parallelism {
		args = append(args, c.RunDir()+"/"+strconv.Itoa(i))
	}
	return args
}

func (c Config) labels(component string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "flagstorm",
		"app.kubernetes.io/instance":   c.Name,
		"app.kubernetes.io/component":  component,
		"app.kubernetes.io/managed-by": "flagstorm",
	}
}

// runnerSelector selects the runner pods (and only them: the merge's
// pods have another component).
func (c Config) runnerSelector() map[string]string {
	return map[string]string{"app.kubernetes.io/instance": c.Name, "app.kubernetes.io/component": "runner"}
}

func (c Config) meta(name, component string) objectMeta {
	return objectMeta{Name: name, Namespace: c.Namespace, Labels: c.labels(component)}
}

// Render validates cfg and writes its manifests to w as one YAML stream.
func Render(w io.Writer, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	c := cfg.withDefaults()
	var docs []any
	docs = append(docs, c.configMap(), c.service())
	if c.ResultsPVC == "" {
		docs = append(docs, c.resultsClaim())
	}
	docs = append(docs, c.runnerJob(), c.mergeJobObject())

	var b strings.Builder
	fmt.Fprintf(&b, "# flagstorm k8s render: %s (scenario %s), %d runner(s), run id %s.\n", c.ScenarioFile, c.Spec.Name, c.Parallelism, c.RunID)
	fmt.Fprintf(&b, "# Results in claim %s under %s. Then, in order (docs/distributed.md):\n", c.claim(), c.RunDir())
	for _, cmd := range c.Commands("FILE") {
		fmt.Fprintf(&b, "#   %s\n", cmd)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return fmt.Errorf("render: %w", err)
		}
	}
	return enc.Close()
}

// Commands are the kubectl commands of a run rendered into file: apply;
// wait until the runner Job has finished, Complete or Failed (a runner
// that failed its own slice's thresholds fails its index, not the run:
// the merge judges); resume the merge; follow it to its verdict.
func (c Config) Commands(file string) []string {
	ns := ""
	if c.Namespace != "" {
		ns = " -n " + c.Namespace
	}
	return []string{
		"kubectl apply" + ns + " -f " + file,
		"until kubectl get" + ns + " job/" + c.Name + ` -o jsonpath='{.status.conditions[?(@.status=="True")].type}' | grep -Eq 'Complete|Failed'; do sleep 10; done`,
		"kubectl patch" + ns + " job/" + c.mergeJob() + ` --type=merge -p '{"spec":{"suspend":false}}'`,
		"kubectl logs" + ns + " -f job/" + c.mergeJob(),
	}
}

func (c Config) configMap() configMap {
	return configMap{
		typeMeta: typeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		Metadata: c.meta(c.scenarioConfigMap(), "scenario"),
		Data:     map[string]string{c.ScenarioFile: string(c.Scenario)},
	}
}

func (c Config) service() service {
	return service{
		typeMeta: typeMeta{APIVersion: "v1", Kind: "Service"},
		Metadata: c.meta(c.Name, "runner"),
		Spec: serviceSpec{
			ClusterIP: "None",
			// The runners have no readiness probe; publish each one's
			// address as soon as it has one, so the others reach the
			// leader without waiting for a ready condition.
			PublishNotReadyAddresses: true,
			Selector:                 c.runnerSelector(),
			Ports:                    []servicePort{{Name: "rendezvous", Protocol: "TCP", Port: c.RendezvousPort, TargetPort: c.RendezvousPort}},
		},
	}
}

func (c Config) resultsClaim() persistentVolumeClaim {
	return persistentVolumeClaim{
		typeMeta: typeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		Metadata: c.meta(c.claim(), "results"),
		Spec: pvcSpec{
			AccessModes:      []string{"ReadWriteMany"},
			StorageClassName: c.StorageClass,
			Resources:        resourceReqs{Requests: map[string]string{"storage": c.ResultsSize}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func (c Config) podSpec(ctr container, withScenario bool) podSpec {
	mounts := []volumeMount{{Name: "results", MountPath: ResultsDir}, {Name: "tmp", MountPath: "/tmp"}}
	volumes := []volume{
		{Name: "results", PersistentVolumeClaim: &pvcVolume{ClaimName: c.claim()}},
		{Name: "tmp", EmptyDir: &emptyDirVolumeSource{SizeLimit: "64Mi"}},
	}
	if withScenario {
		mounts = append([]volumeMount{{Name: "scenario", MountPath: ScenarioDir, ReadOnly: true}}, mounts...)
		volumes = append([]volume{{Name: "scenario", ConfigMap: &configMapVolume{
			Name: c.scenarioConfigMap(), Items: []keyToPath{{Key: c.ScenarioFile, Path: c.ScenarioFile}}}}}, volumes...)
	}
	ctr.Image = c.Image
	ctr.VolumeMounts = mounts
	ctr.SecurityContext = containerSecurityContext{
		AllowPrivilegeEscalation: false,
		ReadOnlyRootFilesystem:   true,
		Capabilities:             capabilities{Drop: []string{"ALL"}},
	}
	return podSpec{
		RestartPolicy:                "Never",
		AutomountServiceAccountToken: false,
		EnableServiceLinks:           false,
		// flagstorm answers SIGTERM by removing its faults and writing a
		// partial report: give it time.
		TerminationGracePeriodSeconds: 60,
		SecurityContext: podSecurityContext{
			RunAsNonRoot: true, RunAsUser: RunAsUser, RunAsGroup: RunAsUser, FSGroup: RunAsUser,
			SeccompProfile: seccompProfile{Type: "RuntimeDefault"},
		},
		Containers: []container{ctr},
		Volumes:    volumes,
	}
}

func (c Config) runnerJob() job {
	ctr := container{
		Name: "runner",
		Args: c.RunnerArgs(),
		Env: []envVar{{Name: "POD_NAMESPACE", ValueFrom: &envVarSource{
			FieldRef: &objectFieldSelector{FieldPath: "metadata.namespace"}}}},
		Ports: []containerPort{{Name: "rendezvous", ContainerPort: c.RendezvousPort, Protocol: "TCP"}},
		Resources: resourceReqs{
			Requests: map[string]string{"cpu": c.CPU, "memory": c.Memory},
			Limits:   map[string]string{"memory": c.Memory},
		},
	}
	if c.EnvSecret != "" {
		ctr.EnvFrom = []envFromSource{{SecretRef: &secretEnvSource{Name: c.EnvSecret}}}
	}
	spec := c.podSpec(ctr, true)
	spec.Subdomain = c.Name
	// One runner per node where the cluster can: the point of many
	// runners is more CPU than one node has.
	spec.TopologySpreadConstraints = []topologySpreadConstraint{{
		MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: "ScheduleAnyway",
		LabelSelector: labelSelector{MatchLabels: c.runnerSelector()},
	}}
	deadline := c.RendezvousTimeout + c.Spec.Duration() + DeadlineMargin
	ownVerdict := []int{exitcode.Failed, exitcode.Inconclusive}
	return job{
		typeMeta: typeMeta{APIVersion: "batch/v1", Kind: "Job"},
		Metadata: c.jobMeta(c.Name, "runner"),
		Spec: jobSpec{
			CompletionMode:       "Indexed",
			Completions:          ptr(c.Parallelism),
			Parallelism:          ptr(c.Parallelism),
			BackoffLimitPerIndex: ptr(0),
			PodFailurePolicy: &podFailurePolicy{Rules: []podFailurePolicyRule{
				{Action: "FailJob", OnPodConditions: []onPodConditionsPattern{{Type: "DisruptionTarget", Status: "True"}}},
				{Action: "FailIndex", OnExitCodes: &onExitCodes{ContainerName: "runner", Operator: "In", Values: ownVerdict}},
				{Action: "FailJob", OnExitCodes: &onExitCodes{ContainerName: "runner", Operator: "NotIn", Values: ownVerdict}},
			}},
			ActiveDeadlineSeconds: ptr(int64(deadline.Round(time.Second) / time.Second)),
			Template:              podTemplate{Metadata: objectMeta{Labels: c.labels("runner")}, Spec: spec},
		},
	}
}

func (c Config) mergeJobObject() job {
	ctr := container{
		Name: "merge",
		Args: c.MergeArgs(),
		Resources: resourceReqs{
			Requests: map[string]string{"cpu": "500m", "memory": c.Memory},
			Limits:   map[string]string{"memory": c.Memory},
		},
	}
	return job{
		typeMeta: typeMeta{APIVersion: "batch/v1", Kind: "Job"},
		Metadata: c.jobMeta(c.mergeJob(), "merge"),
		Spec: jobSpec{
			// Resumed (kubectl patch) once the runner Job has finished:
			// started earlier, it would find segments missing. The pods
			// get no Kubernetes API credentials to watch the runners
			// themselves.
			Suspend:               ptr(true),
			BackoffLimit:          ptr(0),
			ActiveDeadlineSeconds: ptr(int64(MergeDeadline / time.Second)),
			Template:              podTemplate{Metadata: objectMeta{Labels: c.labels("merge")}, Spec: c.podSpec(ctr, false)},
		},
	}
}

func (c Config) jobMeta(name, component string) objectMeta {
	m := c.meta(name, component)
	m.Annotations = map[string]string{"flagstorm/run-id": c.RunID, "flagstorm/scenario": c.ScenarioFile}
	return m
}
