package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/run"
	"github.com/flagstorm/flagstorm/harness/internal/segment"
	"github.com/flagstorm/flagstorm/internal/testenv"
)

const mergeFile = `name: merged
load: {executor: constant-vus, vus: 2, duration: 10s}
requests:
  - {name: get, weight: 1, method: GET, path: "/api/config/flags/{{flag}}?environment={{env}}"}
thresholds:
  http_reqs: ["count>=400"]
  http_req_duration: ["p(95)<%LIMIT%"]
`

// runnerDir writes the raw material of a runner that ran seg of
// mergeFile (with its latency limit) and made 100 requests of 10 to 19
// ms, as run --out does, into root/name.
func runnerDir(t *testing.T, root, name, limit string, seg segment.Segment, seq segment.Sequence) string {
	t.Helper()
	start := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	rec := record.New(start)
	for i := range 100 {
		rec.AddRequest(record.Request{
			Tags: record.Tags{Scenario: "default", Name: "get", Method: "GET", Status: "200"},
			At:   start.Add(time.Duration(i) * 100 * time.Millisecond), Duration: time.Duration(10+i%10) * time.Millisecond,
		})
	}
	snap, err := rec.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	content := strings.Replace(mergeFile, "%LIMIT%", limit, 1)
	sum := sha256.Sum256([]byte(content))
	raw := &run.Raw{
		Format: run.RawFormat, Version: run.RawVersion,
		Scenario: run.RawScenario{Name: "merged", File: "merged.yaml", SHA256: hex.EncodeToString(sum[:]), Content: content},
		Segment:  seg.String(), Sequence: seq.String(),
		Start: start, End: start.Add(10 * time.Second),
		Recorder: snap,
	}
	dir := filepath.Join(root, name)
	if err := run.WriteRaw(dir, raw); err != nil {
		t.Fatal(err)
	}
	return dir
}

// flagstorm merge: exit codes as a run's, and exit 2 naming the gap, the
// directory or the file when the runners are not one whole run.
func TestMergeCommand(t *testing.T) {
	segs4, seq4 := segment.Split(4)
	runs := func(t *testing.T, limit string, which ...int) string {
		root := filepath.Join(t.TempDir(), "runs")
		for _, i := range which {
			runnerDir(t, root, string(rune('0'+i)), limit, segs4[i], seq4)
		}
		return root
	}
	tests := []struct {
		name  string
		args  func(t *testing.T) []string
		want  int
		out   []string // in stdout or stderr
		files bool     // the reports are written to --out
	}{
		{"four runners pass", func(t *testing.T) []string {
			root := runs(t, "50", 0, 1, 2, 3)
			return []string{"merge", root, "--out", filepath.Join(root, "merged")}
		}, ExitOK, []string{"PASS", "merged from 4 runner(s)"}, true},
		{"runners listed one by one, flags first", func(t *testing.T) []string {
			root := runs(t, "50", 0, 1, 2, 3)
			return []string{"merge", "--out", filepath.Join(t.TempDir(), "merged"), filepath.Join(root, "3"), filepath.Join(root, "1"), filepath.Join(root, "0"), filepath.Join(root, "2")}
		}, ExitOK, []string{"PASS"}, true},
		{"a threshold fails on the merge", func(t *testing.T) []string {
			root := runs(t, "15", 0, 1, 2, 3)
			return []string{"merge", root, "--out", filepath.Join(root, "merged")}
		}, ExitFailed, []string{"http_req_duration"}, true},
		{"last segment missing", func(t *testing.T) []string {
			// 100 requests each: count>=400 would fail without the
			// fourth; merge refuses before judging.
			root := runs(t, "50", 0, 1, 2)
			return []string{"merge", root}
		}, ExitUsage, []string{"no runner covers 3/4:1"}, false},
		{"missing segment", func(t *testing.T) []string {
			return []string{"merge", runs(t, "50", 0, 1, 3)}
		}, ExitUsage, []string{"no runner covers 1/2:3/4"}, false},
		{"raw file missing", func(t *testing.T) []string {
			root := runs(t, "50", 0, 1, 2, 3)
			os.Remove(filepath.Join(root, "2", run.RawFile))
			return []string{"merge", root}
		}, ExitUsage, []string{filepath.Join("runs", "2") + ": raw.json.gz missing"}, false},
		{"different scenario", func(t *testing.T) []string {
			root := runs(t, "50", 0, 1, 2)
			runnerDir(t, root, "3", "51", segs4[3], seq4)
			return []string{"merge", root}
		}, ExitUsage, []string{filepath.Join("runs", "3") + ": ran scenario merged", "the same file"}, false},
		{"corrupt file", func(t *testing.T) []string {
			root := runs(t, "50", 0, 1, 2, 3)
			os.WriteFile(filepath.Join(root, "1", run.RawFile), []byte("\x1f\x8b garbage"), 0o644)
			return []string{"merge", root}
		}, ExitUsage, []string{filepath.Join("runs", "1", run.RawFile) + ":"}, false},
		{"no directory", func(t *testing.T) []string { return []string{"merge", "--out", t.TempDir()} }, ExitUsage, []string{"merge needs the runners' directories"}, false},
		{"help", func(t *testing.T) []string { return []string{"merge", "-h"} }, ExitOK, []string{"raw.json.gz", "no runner covers"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args(t)
			var stdout, stderr strings.Builder
			got := Main(t.Context(), args, func(string) string { return "" }, &stdout, &stderr)
			if got != tc.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tc.want, stdout.String(), stderr.String())
			}
			all := stdout.String() + stderr.String()
			for _, want := range tc.out {
				if !strings.Contains(all, want) {
					t.Errorf("output does not say %q:\n%s", want, all)
				}
			}
			if !tc.files {
				return
			}
			out := ""
			for i, a := range args {
				if a == "--out" {
					out = args[i+1]
				}
			}
			b, err := os.ReadFile(filepath.Join(out, "summary.json"))
			if err != nil {
				t.Fatal(err)
			}
			var sum struct {
				Flagstorm struct {
					ExitCode int      `json:"exitCode"`
					Notes    []string `json:"notes"`
				} `json:"flagstorm"`
			}
			if err := json.Unmarshal(b, &sum); err != nil {
				t.Fatal(err)
			}
			if sum.Flagstorm.ExitCode != tc.want || len(sum.Flagstorm.Notes) == 0 || !strings.HasPrefix(sum.Flagstorm.Notes[0], "merged from 4 runner(s)") {
				t.Errorf("summary.json: exit code %d (want %d), notes %q", sum.Flagstorm.ExitCode, tc.want, sum.Flagstorm.Notes)
			}
			for _, f := range []string{"junit.xml", "report.html"} {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// Runner processes of the built binary, two at a shared start against a
// stand-in target on loopback, each failing its share of the file's
// iteration count; merged, they are one run: the single process's
// iteration count in all and in the second phase, and a pass. Without
// one runner the merge exits 2 naming its segment.
func TestMergeOfRunnerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds flagstorm and runs three runner processes")
	}
	bin := testenv.BuildFlagstorm(t)
	srv := standIn(t)
	file := arrivalFile(t, "merged", 100, "3s", `timeline:
  - {phase: first, at: 0s}
  - {phase: second, at: 1500ms}
`, `  iterations: ["count==300"]
  "http_reqs{phase:second}": ["count>0"]
  http_req_failed: ["rate==0"]`)

	single := t.TempDir()
	if code := startProcess(t, bin, nil, "run", file, "--target-url", srv.URL, "--quiet", "--out", single).wait(t, time.Minute); code != ExitOK {
		t.Fatalf("the single run: exit %d", code)
	}
	one := readSummary(t, filepath.Join(single, "summary.json"))

	root, addr := t.TempDir(), freeAddr(t)
	ps := make([]*process, 2)
	for i := range ps {
		ps[i] = startProcess(t, bin, nil, "run", file, "--target-url", srv.URL, "--quiet", "--out", filepath.Join(root, strconv.Itoa(i)),
			"--runners", "2", "--runner-index", strconv.Itoa(i), "--rendezvous", addr, "--rendezvous-timeout", "60s")
	}
	for i, p := range ps {
		if code := p.wait(t, time.Minute); code != ExitFailed {
			t.Fatalf("runner %d: exit %d, want 1 (its share fails count==300)\n%s", i, code, p.out.String())
		}
	}
	merged := filepath.Join(root, "merged")
	var stdout, stderr strings.Builder
	if code := Main(t.Context(), []string{"merge", root, "--out", merged}, func(string) string { return "" }, &stdout, &stderr); code != ExitOK {
		t.Fatalf("merge: exit %d, want 0\n%s%s", code, stdout.String(), stderr.String())
	}
	m := readSummary(t, filepath.Join(merged, "summary.json"))
	for _, k := range []struct{ metric, agg string }{{"iterations", "count"}, {"http_reqs", "count"}, {"http_reqs{phase:second}", "count"}} {
		if got, want := m.value(t, k.metric, k.agg), one.value(t, k.metric, k.agg); got != want {
			t.Errorf("merged %s %s = %v, the single run's %v", k.metric, k.agg, got, want)
		}
	}
	// Merging again skips its own output directory under root.
	stdout.Reset()
	stderr.Reset()
	if code := Main(t.Context(), []string{"merge", root, "--out", merged}, func(string) string { return "" }, &stdout, &stderr); code != ExitOK {
		t.Errorf("merge again into root/merged: exit %d\n%s", code, stderr.String())
	}
	stderr.Reset()
	if code := Main(t.Context(), []string{"merge", filepath.Join(root, "0")}, func(string) string { return "" }, io.Discard, &stderr); code != ExitUsage || !strings.Contains(stderr.String(), "no runner covers 1/2:1") {
		t.Errorf("merge of runner 0 alone: exit %d, want 2 naming 1/2:1\n%s", code, stderr.String())
	}
}
