package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/flagstorm/flagstorm/harness/internal/exitcode"
)

const k8sScenario = "../../../scenarios/baseline.yaml"

// renderedArgs returns the args of each container of the YAML stream's
// Jobs, by Job name (the manifests themselves are checked against the
// Kubernetes API types in package k8s).
func renderedArgs(t *testing.T, stream string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	dec := yaml.NewDecoder(strings.NewReader(stream))
	for {
		var doc struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     struct {
				Template struct {
					Spec struct {
						Containers []struct{ Args []string }
					}
				}
			}
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind == "Job" && len(doc.Spec.Template.Spec.Containers) == 1 {
			out[doc.Metadata.Name] = doc.Spec.Template.Spec.Containers[0].Args
		}
	}
	return out
}

func TestK8sRender(t *testing.T) {
	code, stdout, stderr := runCLI(t, "k8s", "render", k8sScenario, "--parallelism", "3",
		"--image", "registry.example/flagstorm:v1", "--target-url", "http://flagserver:8080", "--run-id", "r1")
	if code != exitcode.OK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "# flagstorm k8s render: baseline.yaml") {
		t.Errorf("stdout starts %.80q", stdout)
	}
	for _, want := range []string{"kubectl apply -f FILE", "kubectl patch job/flagstorm-baseline-merge", "run id r1"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	jobs := renderedArgs(t, stdout)
	runner, merge := jobs["flagstorm-baseline"], jobs["flagstorm-baseline-merge"]
	if len(runner) == 0 || len(merge) == 0 {
		t.Fatalf("Jobs %v", jobs)
	}

	// Every flag the manifests give run and merge is one they have:
	// package k8s and the commands it drives must not drift apart.
	for cmd, args := range map[string][]string{"run": runner, "merge": merge} {
		if args[0] != cmd {
			t.Errorf("%s Job runs %q", cmd, args)
			continue
		}
		names, err := FlagNames(cmd)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range args[1:] {
			name, isFlag := strings.CutPrefix(a, "--")
			if !isFlag {
				continue
			}
			name, _, _ = strings.Cut(name, "=")
			if !slices.Contains(names, name) {
				t.Errorf("the %s Job passes --%s, which flagstorm %s does not define", cmd, name, cmd)
			}
		}
	}

	t.Run("to a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "run.yaml")
		code, stdout2, stderr := runCLI(t, "k8s", "render", "--parallelism=3", "--image=registry.example/flagstorm:v1",
			"--target-url=http://flagserver:8080", "--run-id=r1", "-o", file, k8sScenario)
		if code != exitcode.OK || stdout2 != "" {
			t.Fatalf("exit %d, stdout %q\n%s", code, stdout2, stderr)
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, []byte(stdout)) {
			t.Error("the file differs from what standard output got")
		}
		if !strings.Contains(stderr, "kubectl apply -f "+file) {
			t.Errorf("stderr does not name the file:\n%s", stderr)
		}
	})

	t.Run("flags from the environment", func(t *testing.T) {
		var out, errOut strings.Builder
		env := map[string]string{"FLAGSTORM_IMAGE": "registry.example/flagstorm:v2", "FLAGSTORM_PARALLELISM": "2",
			"FLAGSTORM_TARGET_URL": "http://flagserver:8080"}
		code := Main(t.Context(), []string{"k8s", "render", k8sScenario}, func(k string) string { return env[k] }, &out, &errOut)
		if code != exitcode.OK || !strings.Contains(out.String(), "image: registry.example/flagstorm:v2") || !strings.Contains(out.String(), "--runners=2") {
			t.Errorf("exit %d\n%s", code, errOut.String())
		}
	})
}

func TestK8sRenderUsageErrors(t *testing.T) {
	base := []string{"--image", "registry.example/flagstorm:v1", "--target-url", "http://flagserver:8080"}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\nload: {executor: constant-vus, vus: 1, duration: 1s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no subcommand", []string{"k8s"}, "flagstorm k8s: want a subcommand: render"},
		{"unknown subcommand", []string{"k8s", "apply"}, "flagstorm k8s: want a subcommand: render"},
		{"no file", append([]string{"k8s", "render", "--parallelism", "2"}, base...), "flagstorm k8s: render takes exactly one scenario file"},
		{"two files", append([]string{"k8s", "render", k8sScenario, k8sScenario, "--parallelism", "2"}, base...), "flagstorm k8s: render takes exactly one scenario file"},
		{"missing file", append([]string{"k8s", "render", "nope.yaml", "--parallelism", "2"}, base...), "nope.yaml"},
		{"invalid file", append([]string{"k8s", "render", bad, "--parallelism", "2"}, base...), "bad.yaml"},
		{"no parallelism", append([]string{"k8s", "render", k8sScenario}, base...), "flagstorm k8s: render " + k8sScenario + ":\n  parallelism 0: want 1 to 1000 runners"},
		{"huge parallelism", append([]string{"k8s", "render", k8sScenario, "--parallelism", "100000"}, base...), "parallelism 100000"},
		{"parallelism not a number", append([]string{"k8s", "render", k8sScenario, "--parallelism", "four"}, base...), "invalid value \"four\""},
		{"no image", []string{"k8s", "render", k8sScenario, "--parallelism", "2", "--target-url", "http://x:1"}, "image: required"},
		{"invalid name", append([]string{"k8s", "render", k8sScenario, "--parallelism", "2", "--name", "Load_Test"}, base...), `name "Load_Test": want a DNS-1035 label`},
		{"a password in the target", []string{"k8s", "render", k8sScenario, "--parallelism", "2", "--image", "i", "--target-url", "http://u:sekrit99@x:1"}, "carries a secret"},
		{"unknown flag", append([]string{"k8s", "render", k8sScenario, "--parallelism", "2", "--nope"}, base...), "flag provided but not defined: -nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != exitcode.Usage {
				t.Errorf("exit %d, want %d (usage)", code, exitcode.Usage)
			}
			if stdout != "" {
				t.Errorf("stdout %.200q: nothing is rendered on an error", stdout)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
			if strings.Contains(stderr, "sekrit99") {
				t.Errorf("stderr shows the password:\n%s", stderr)
			}
		})
	}
}
