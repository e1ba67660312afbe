package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/k8s"
	"github.com/flagstorm/flagstorm/harness/internal/run"
)

const k8sSummary = "write Kubernetes manifests that run a scenario on many runners and merge them: k8s render FILE"

const k8sUsage = `Usage: flagstorm k8s render FILE --parallelism N --image IMAGE --target-url URL [flags] [-o FILE]

Writes the Kubernetes manifests (one YAML stream) of a distributed run of FILE:
  - a ConfigMap NAME-scenario holding FILE as it is;
  - a headless Service NAME, through which the runners reach runner 0 for the shared start;
  - a ReadWriteMany claim NAME-results for the results (unless --results-pvc names one);
  - an Indexed Job NAME: N runners at once, runner I running segment I/N:(I+1)/N of the load
    (flagstorm run --runners N --runner-index I), never retried, runner 0 owning the faults,
    each writing its results to /results/RUN_ID/I;
  - a merge Job NAME-merge, suspended: resumed once the runners have finished, it merges
    their results and judges the whole run (flagstorm merge), its exit code the run's.
The runners drive a running service (--target-url); secrets reach them from a Secret
(--env-secret, e.g. FLAGSTORM_ADMIN_TOKEN), never from the manifests. Needs Kubernetes 1.29
or later (backoffLimitPerIndex, podFailurePolicy). The kubectl commands that follow are
printed on standard error; docs/distributed.md explains them and the image build.
` + exitCodesLine + `

Flags:`

// runK8s renders a scenario as Kubernetes manifests.
func runK8s(_ context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "render" {
		if e.describe == nil {
			fmt.Fprintln(e.stderr, "Usage: flagstorm k8s render FILE --parallelism N --image IMAGE --target-url URL [flags]")
		}
		return usageError("want a subcommand: render (flagstorm k8s render FILE --parallelism N --image IMAGE --target-url URL)")
	}
	fs := newFlagSet("k8s render", e)
	var c k8s.Config
	var out string
	fs.IntVar(&c.Parallelism, "parallelism", 0, fmt.Sprintf("number of runners, each running 1/N of the load (1 to %d; required)", k8s.MaxParallelism))
	fs.StringVar(&c.Image, "image", "", "the flagstorm image the pods run (harness/Dockerfile, target flagstorm; required)")
	fs.StringVar(&c.Name, "name", "", fmt.Sprintf("name of the Jobs, Service, ConfigMap and claim (a DNS-1035 label, at most %d; default flagstorm-<scenario name>)", k8s.MaxNameLen))
	fs.StringVar(&c.Namespace, "namespace", "", "namespace of every object (default: kubectl's current namespace)")
	fs.StringVar(&c.RunID, "run-id", "", "the run's results directory under /results (default <name>-<UTC time>)")
	fs.StringVar(&c.TargetURL, "target-url", "", "base URL of the running service the runners drive, as the pods reach it (several, comma-separated); required unless --env-secret's Secret holds FLAGSTORM_TARGET_URL")
	fs.StringVar(&c.ToxiproxyURL, "toxiproxy-url", "", "the Toxiproxy API in front of the service's backends, as the pods reach it: the faults (applied by the runner owning index 0) and the oracle")
	fs.StringVar(&c.EnvSecret, "env-secret", "", "a Secret whose keys become the runners' environment, e.g. FLAGSTORM_ADMIN_TOKEN (kubectl create secret generic NAME --from-literal=FLAGSTORM_ADMIN_TOKEN=...)")
	fs.StringVar(&c.ResultsPVC, "results-pvc", "", "an existing claim for the results, mounted by every runner and the merge (ReadWriteMany; default: render NAME-results)")
	fs.StringVar(&c.ResultsSize, "results-size", "1Gi", "size of the rendered results claim")
	fs.StringVar(&c.StorageClass, "storage-class", "", "storage class of the rendered results claim, one that offers ReadWriteMany (default: the cluster's default class)")
	fs.StringVar(&c.CPU, "cpu", "1", "CPU each runner requests (no limit: a throttled load generator skews what it measures)")
	fs.StringVar(&c.Memory, "memory", "1Gi", "memory each runner requests, and its limit")
	fs.IntVar(&c.RendezvousPort, "rendezvous-port", k8s.DefaultRendezvousPort, "port runner 0 listens on for the shared start")
	fs.DurationVar(&c.RendezvousTimeout, "rendezvous-timeout", k8s.DefaultRendezvousTimeout, "how long the runners wait for each other before giving up (exit 4)")
	fs.StringVar(&c.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain (runner 0's name: NAME-0.NAME.<namespace>.svc.<domain>)")
	fs.StringVar(&out, "o", "", "write the manifests to this file instead of standard output")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, k8sUsage)
		fs.PrintDefaults()
	}
	file, rest := fileFirst(args[1:])
	if err := parse(fs, e, rest); err != nil {
		return err
	}
	switch {
	case file == "" && fs.NArg() == 1:
		file = fs.Arg(0)
	case file == "" || fs.NArg() > 0:
		return usageError("render takes exactly one scenario file (flagstorm k8s render FILE --parallelism N --image IMAGE --target-url URL)")
	}
	plan, err := run.Load(file)
	if err != nil {
		return err
	}
	content, err := os.ReadFile(file)
	if err != nil {
		return usageError("%v", err)
	}
	c.Spec, c.Scenario, c.ScenarioFile = plan.Spec, content, filepath.Base(file)
	if c.Name == "" {
		c.Name = k8s.DefaultName(plan.Spec)
	}
	if c.RunID == "" {
		c.RunID = k8s.DefaultRunID(c.Name, time.Now())
	}
	if err := c.Validate(); err != nil {
		return usageError("render %s:\n  %s", file, strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	var buf bytes.Buffer
	if err := k8s.Render(&buf, c); err != nil {
		return err
	}
	target := out
	if out == "" {
		target = "FILE"
		if _, err := e.stdout.Write(buf.Bytes()); err != nil {
			return err
		}
	} else if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "flagstorm k8s render: %d runner(s) of %s, run id %s; then (docs/distributed.md):\n", c.Parallelism, file, c.RunID)
	for _, cmd := range c.Commands(target) {
		fmt.Fprintln(e.stderr, "  "+cmd)
	}
	return nil
}
