package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// fakeRun is a valid result of rps requests per second for 10 s.
func fakeRun(rps float64, p50 time.Duration) result {
	return result{Requests: int64(rps * 10), Duration: 10 * time.Second, P50: p50, P95: 2 * p50, P99: 3 * p50,
		Proc: benchkit.GenProc{CPU: time.Second, Wall: 11 * time.Second, MaxRSS: 20 << 20, LastHWM: 20 << 20}}
}

func fakeReport() *report {
	hello := endpoint{name: "hello", srv: &server{}}
	t := &throughputResult{endpoints: []endpoint{hello}}
	for _, c := range []struct {
		tl   tool
		rpss []float64
	}{{toolFlagstorm, []float64{27000, 28000, 30000}}, {toolWrk, []float64{50000, 30000, 31000}}, {toolHey, []float64{25000, 26000, 27000}}} {
		tc := &throughputCase{endpoint: hello, tool: c.tl}
		for _, v := range c.rpss {
			tc.runs = append(tc.runs, fakeRun(v, time.Millisecond))
		}
		t.cases = append(t.cases, tc)
	}
	invalid := fakeRun(99000, time.Millisecond)
	invalid.Failed = 3
	t.cases[0].runs = append(t.cases[0].runs, invalid)
	long := fakeRun(2000, time.Millisecond)
	long.Proc.MaxRSS, long.Proc.LastHWM = 21<<20, 21<<20
	return &report{
		cfg:        config{Duration: 10 * time.Second, Connections: 50, Threads: 2, Rounds: 3},
		throughput: t,
		accuracy: &accuracyResult{latency: 100 * time.Millisecond, tolerance: 2 * time.Millisecond, vus: 5,
			plain: fakeRun(9000, 400*time.Microsecond), toxic: fakeRun(48, 103*time.Millisecond),
			plainRef: fakeRun(16000, 200*time.Microsecond), toxicRef: fakeRun(49, 101*time.Millisecond)},
		memory: &memoryResult{rate: 2000, short: fakeRun(2000, time.Millisecond), long: long,
			shortDur: time.Minute, longDur: 2 * time.Minute},
	}
}

func TestVerdicts(t *testing.T) {
	r := fakeReport()
	vs := r.verdicts()
	want := []struct {
		prefix string
		pass   bool
		got    string
	}{
		// Medians of the valid runs: 28000 / 31000 (the invalid 99000 is
		// left out).
		{"hello: flagstorm req/s ≥ 0.9 × wrk", true, "0.90×"},
		{"accuracy", false, "+2.60 ms"},
		{"memory", true, "1.05×"},
	}
	if len(vs) != len(want) {
		t.Fatalf("got %d verdicts, want %d: %+v", len(vs), len(want), vs)
	}
	for i, w := range want {
		v := vs[i]
		if !strings.HasPrefix(v.Goal, w.prefix) || v.Pass != w.pass || !strings.Contains(v.Got, w.got) {
			t.Errorf("verdict %d = %+v; want goal %q…, pass %v, measured containing %q", i, v, w.prefix, w.pass, w.got)
		}
	}
	if benchkit.Passed(r.verdicts()) {
		t.Error("Passed with a failed accuracy goal")
	}
	if !strings.Contains(vs[2].Goal, "quick check") {
		t.Errorf("memory goal %q: want it marked as the quick check without -memory-long", vs[2].Goal)
	}
}

// TestMarkdownTables checks that every row of every table has as many
// cells as its header: an unescaped "|" in a cell would shift them.
func TestMarkdownTables(t *testing.T) {
	var b bytes.Buffer
	fakeReport().markdown(&b)
	cells := func(line string) int {
		return strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") - 1
	}
	want := 0
	for line := range strings.Lines(b.String()) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			want = 0
			continue
		}
		if want == 0 {
			want = cells(line)
			continue
		}
		if got := cells(line); got != want {
			t.Errorf("row with %d cells under a header of %d: %s", got, want, line)
		}
	}
	for _, s := range []string{"~~99000~~", "hello, flagstorm, round 4: 3 failed requests", "| hello | 0.90 |"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, b.String())
		}
	}
}
