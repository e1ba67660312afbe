package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/pgcluster"
)

// The story's own stack (examples/seed-ioredis: TypeScript, ioredis 5,
// node-postgres) as a command target: its node tests against a real
// redis-server and a fresh PostgreSQL database, then both variants through
// one short fault. Redis refuses connections for 5 s: the story's client
// queues every command offline until its fourth reconnection attempt
// (about 1 s, then longer), so the seed variant's outage p95 is far above
// 400 ms, the failure its description's expect: list names for this file;
// the hardened variant (no offline queue) answers from PostgreSQL at once.
// Needs node and npm: skipped without them, except in CI.
func TestIoredisExample(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found: CI must run examples/seed-ioredis (apt-get install -y nodejs npm)", tool)
			}
			t.Skipf("%s not found: examples/seed-ioredis not tested (apt-get install -y nodejs npm)", tool)
		}
	}
	dir := filepath.Join(root, "examples", "seed-ioredis")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	runCmd(ctx, t, root, nil, "make", "--no-print-directory", "ioredis-example")

	t.Run("node tests", func(t *testing.T) {
		// The node tests create their databases on the server
		// FLAGSTORM_TEST_DATABASE_URL names, and fail (not skip) when it
		// does not answer: given one, it is used; else a throwaway cluster
		// of this test's own, whatever runs on this machine.
		var env []string
		if os.Getenv("FLAGSTORM_TEST_DATABASE_URL") == "" {
			pc, err := pgcluster.Start(ctx, pgcluster.Options{})
			if err != nil {
				t.Fatalf("a throwaway PostgreSQL for the node tests: %v (or set FLAGSTORM_TEST_DATABASE_URL)", err)
			}
			t.Cleanup(func() {
				if err := pc.Stop(context.WithoutCancel(ctx)); err != nil {
					t.Errorf("stop the throwaway PostgreSQL: %v", err)
				}
			})
			env = append(env, "FLAGSTORM_TEST_DATABASE_URL="+pc.URL("postgres"))
		}
		runCmd(ctx, t, dir, env, "node", "--test", "--test-concurrency=1", "dist/test/")
	})

	t.Run("seed fails the outage's latency, hardened passes", func(t *testing.T) {
		work := t.TempDir()
		scenario := filepath.Join(work, "ioredis-smoke.yaml")
		writeTestFile(t, scenario, `name: ioredis-smoke
description: Redis refuses connections for 5 s while readers and writers go on.
requestTimeout: 10s
scenarios:
  readers: {executor: constant-arrival-rate, rate: 100, duration: 13s, preAllocatedVUs: 20, maxVUs: 100, requests: [list, get]}
  writers: {executor: constant-arrival-rate, rate: 5, duration: 13s, preAllocatedVUs: 5, maxVUs: 20, requests: [update]}
requests:
  - {name: list,   weight: 60, method: GET,   path: "/api/config/flags?environment={{env}}"}
  - {name: get,    weight: 35, method: GET,   path: "/api/config/flags/{{flag}}?environment={{env}}"}
  - {name: update, weight: 5,  method: PATCH, path: "/api/config/flags/{{flag}}?environment={{env}}", body: '{"enabled": {{bool}}}', headers: {Content-Type: application/json}}
timeline:
  - {phase: steady,   at: 0s}
  - {phase: outage,   at: 4s, for: 5s, fault: {proxy: redis, type: refused}}
  - {phase: recovery, at: 9s}
thresholds:
  "http_req_duration{phase:outage}": ["p(95)<400"]
  http_req_failed: ["rate==0"]
`)
		// The example's own description, its program made absolute, and
		// this file's expectation of the seed variant.
		desc := filepath.Join(work, "seed-ioredis.yaml")
		body, err := os.ReadFile(filepath.Join(dir, "flagstorm.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(body), `"dist/src/main.js"`, fmt.Sprintf("%q", filepath.Join(dir, "dist", "src", "main.js")))
		// The seed variant's expect: block, the first after its env.
		seed := strings.Index(text, "env: {CACHE_VARIANT: seed}")
		at := strings.Index(text[max(seed, 0):], "\n    expect:\n")
		if seed < 0 || at < 0 {
			t.Fatalf("examples/seed-ioredis/flagstorm.yaml: no expect: block under variants.seed to add this file's expectation to")
		}
		at += seed + len("\n    expect:\n")
		text = text[:at] + "      ioredis-smoke: [\"http_req_duration{phase:outage} p(95)<400\"]\n" + text[at:]
		writeTestFile(t, desc, text)
		for _, tc := range []struct{ variant, want string }{
			{"seed", "✗ http_req_duration{phase:outage} p(95)<400"},
			{"hardened", "✓ http_req_duration{phase:outage} p(95)<400"},
		} {
			code, stdout, stderr := runCLI(t, "run", scenario, "--target", desc, "--variant", tc.variant, "--quiet")
			if code != ExitOK {
				t.Fatalf("%s: exit %d, want 0 (seed fails exactly its expected threshold, hardened none)\nstdout:\n%s\nstderr:\n%s", tc.variant, code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.want) {
				t.Errorf("%s: no line %q:\n%s", tc.variant, tc.want, stdout)
			}
		}
	})
}

// runCmd runs a command in dir and fails the test with its output if it fails.
func runCmd(ctx context.Context, t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
}

func writeTestFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
