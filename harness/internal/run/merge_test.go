package run

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/harness/internal/engine"
	"github.com/flagstorm/flagstorm/harness/internal/oracle"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/segment"
	"github.com/flagstorm/flagstorm/harness/internal/timeline"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/internal/metric"
)

const mergeScenario = `name: merged
load: {executor: constant-vus, vus: 4, duration: 30s}
requests:
  - {name: get, weight: 1, method: GET, path: "/api/config/flags/{{flag}}?environment={{env}}"}
timeline:
  - {phase: steady, at: 0s}
  - {phase: outage, at: 10s, for: 10s, fault: {proxy: redis, type: blackhole}}
  - {phase: recovery, at: 20s}
thresholds:
  http_req_duration: ["p(95)<40", "p(99)<45", "avg<30", "max<500"]
  "http_req_duration{phase:outage}": ["p(95)<40", "med<20"]
  "http_req_duration{phase:recovery}": ["p(90)<40"]
  http_req_failed: ["rate<0.05"]
  "http_req_failed{phase:outage}": ["rate<0.01"]
  http_reqs: ["count>1000", "rate>100"]
  checks: ["rate>0.9"]
  data_received: ["count>0"]
  recovery_time: ["value<5"]
  stale_reads: ["count==0"]
`

var mergeStart = time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)

// recordRun records one run's requests: fast in steady and recovery,
// slow and failing in the outage (10 s to 20 s), back to fast 3 s later.
func recordRun(rng *rand.Rand, one *record.Recorder, parts []*record.Recorder) {
	for range 30000 {
		at := time.Duration(rng.Int64N(int64(30 * time.Second)))
		d := time.Duration(2+rng.IntN(15))*time.Millisecond + time.Duration(rng.IntN(1000))*time.Microsecond
		failed := false
		phase := "steady"
		switch {
		case at >= 20*time.Second:
			phase = "recovery"
			if at < 23*time.Second {
				d *= 5
			}
		case at >= 10*time.Second:
			phase = "outage"
			d *= 4
			failed = rng.IntN(50) == 0
		}
		q := record.Request{
			Tags: record.Tags{Scenario: "default", Name: "get", Method: "GET", Status: "200", Phase: phase, Source: "redis"},
			At:   mergeStart.Add(at), Duration: d, Waiting: d / 2, Service: d, Failed: failed,
			BytesIn: 100 + rng.Int64N(50), BytesOut: 80, Check: true,
		}
		one.AddRequest(q)
		parts[rng.IntN(len(parts))].AddRequest(q)
	}
}

// rawOf is the raw material of a runner that ran seg and recorded rec;
// the owner (From 0) applied the outage's fault.
func rawOf(t *testing.T, content string, seg segment.Segment, seq string, rec *record.Recorder) *Raw {
	t.Helper()
	snap, err := rec.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(content))
	raw := &Raw{
		Format: RawFormat, Version: RawVersion,
		Scenario: RawScenario{Name: "merged", File: "merged.yaml", SHA256: hex.EncodeToString(sum[:]), Content: content},
		Segment:  seg.String(), Sequence: seq,
		TargetURL: "http://127.0.0.1:1",
		Start:     mergeStart, End: mergeStart.Add(30 * time.Second),
		Evidence: Evidence{
			Sources: true, Disturbed: []string{"outage"},
			NoOracle: "the harness is not the only writer of this target's data", NoDurability: "the harness is not the only writer of this target's data",
			NoColdStart: "the scenario has no cold start (target.start), so no start was timed",
		},
		Events:   []RawEvent{{Phase: "steady"}, {Phase: "outage", What: "blackhole redis"}, {Phase: "recovery"}},
		Recorder: snap,
	}
	if seg.From.Sign() == 0 {
		raw.Events[1].Applied, raw.Events[1].Removed = mergeStart.Add(10*time.Second), mergeStart.Add(20*time.Second)
	}
	return raw
}

// writeRunners writes the raws as runs/<i>/raw.json.gz under a
// temporary directory and returns it.
func writeRunners(t *testing.T, raws ...*Raw) string {
	t.Helper()
	root := t.TempDir()
	for i, raw := range raws {
		if err := WriteRaw(filepath.Join(root, fmt.Sprint(i)), raw); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func mergeDirs(t *testing.T, dirs ...string) (*Outcome, error) {
	t.Helper()
	runners, err := ReadRunners(dirs, "")
	if err != nil {
		return nil, err
	}
	return Merge(t.Context(), runners, Options{})
}

// TestMergeJudgesLikeOneRun: one run's requests recorded whole, or split
// at random over K runners of segments 0:1/K ... written to raw files
// and merged, get the same verdict and the same observed value for
// every threshold, phase-scoped ones and the recovery time (timed on the
// merged buckets from the owner's fault) included; the judge of the
// recorder itself agrees.
func TestMergeJudgesLikeOneRun(t *testing.T) {
	for _, k := range []int{2, 3, 4} {
		t.Run(fmt.Sprintf("K=%d", k), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(k), 42))
			one := record.New(mergeStart)
			parts := make([]*record.Recorder, k)
			for i := range parts {
				parts[i] = record.New(mergeStart)
			}
			recordRun(rng, one, parts)
			segs, seq := segment.Split(k)
			raws := make([]*Raw, k)
			for i, p := range parts {
				raws[i] = rawOf(t, mergeScenario, segs[i], seq.String(), p)
			}
			// The runners listed in another order than their segments'.
			raws[0], raws[k-1] = raws[k-1], raws[0]
			merged, err := mergeDirs(t, writeRunners(t, raws...))
			if err != nil {
				t.Fatal(err)
			}
			whole, err := mergeDirs(t, writeRunners(t, rawOf(t, mergeScenario, segment.Full(), "", one)))
			if err != nil {
				t.Fatal(err)
			}

			// The judge of the recorder itself, as a run's finish calls it.
			p := testPlanOf(t, mergeScenario)
			res := &engine.Result{Start: mergeStart, End: mergeStart.Add(30 * time.Second), Recorder: one}
			ev := rawOf(t, mergeScenario, segment.Full(), "", one).Evidence
			events := []RawEvent{{Phase: "steady"}, {Phase: "outage", Applied: mergeStart.Add(10 * time.Second), Removed: mergeStart.Add(20 * time.Second)}, {Phase: "recovery"}}
			rs, band, why := recoveries(p.Spec, one.Buckets(), res.Start, res.End, toEvents(events))
			ev.NoRecovery = why
			recordRecoveries(one, rs, band)
			direct := judge(judgeInput{thresholds: p.Thresholds, stats: stats(res), evidence: ev, ran: 30 * time.Second})

			verdicts := func(j Judgement) []string {
				var out []string
				for _, r := range j.Summary.Results {
					out = append(out, fmt.Sprintf("%s: %s observed %v", r.Threshold, r.Verdict(), r.Observed))
				}
				return out
			}
			if diff := cmp.Diff(verdicts(whole.Judgement), verdicts(merged.Judgement)); diff != "" {
				t.Errorf("merged judgement differs from the whole run's (-whole +merged):\n%s", diff)
			}
			if diff := cmp.Diff(verdicts(direct), verdicts(merged.Judgement)); diff != "" {
				t.Errorf("merged judgement differs from the recorder's own (-own +merged):\n%s", diff)
			}
			if merged.Judgement.Summary.Failed == 0 || merged.Judgement.Summary.Passed == 0 || merged.Judgement.Summary.NoData == 0 {
				t.Errorf("the test wants passes, failures and no data: %+v", merged.Judgement.Summary)
			}
			var recovered bool
			for _, r := range merged.Judgement.Summary.Results {
				if r.Threshold.Metric == "recovery_time" && r.Verdict() == verdict.Pass {
					recovered = true
				}
			}
			if !recovered {
				t.Error("recovery_time was not timed on the merged buckets")
			}
		})
	}
}

func toEvents(rs []RawEvent) []timeline.Event {
	out := make([]timeline.Event, len(rs))
	for i, r := range rs {
		out[i] = r.event(0)
	}
	return out
}

func testPlanOf(t *testing.T, content string) *Plan {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "merged.yaml")
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMergeRefuses: runners that are not one whole run are refused
// before anything is merged, with an error naming the gap, the directory
// or the file.
func TestMergeRefuses(t *testing.T) {
	rec := record.New(mergeStart)
	rec.AddRequest(record.Request{Tags: record.Tags{Name: "get", Phase: "steady"}, At: mergeStart, Duration: time.Millisecond})
	segs, seq := segment.Split(4)
	runner := func(i int) *Raw { return rawOf(t, mergeScenario, segs[i], seq.String(), rec) }

	t.Run("missing segment", func(t *testing.T) {
		_, err := mergeDirs(t, writeRunners(t, runner(0), runner(1), runner(3)))
		wantInvalid(t, err, "no runner covers 1/2:3/4")
	})
	t.Run("overlap", func(t *testing.T) {
		_, err := mergeDirs(t, writeRunners(t, runner(0), runner(1), runner(1), runner(2), runner(3)))
		wantInvalid(t, err, "covered by more than one runner")
	})
	t.Run("other scenario", func(t *testing.T) {
		other := rawOf(t, strings.Replace(mergeScenario, "p(95)<40", "p(95)<41", 1), segs[3], seq.String(), rec)
		root := writeRunners(t, runner(0), runner(1), runner(2), other)
		_, err := mergeDirs(t, root)
		wantInvalid(t, err, filepath.Join(root, "3")+": ran scenario merged")
	})
	t.Run("raw file missing", func(t *testing.T) {
		root := writeRunners(t, runner(0), runner(1), runner(2), runner(3))
		if err := os.Remove(filepath.Join(root, "2", RawFile)); err != nil {
			t.Fatal(err)
		}
		_, err := mergeDirs(t, root)
		wantInvalid(t, err, filepath.Join(root, "2")+": raw.json.gz missing")
	})
	t.Run("corrupt file", func(t *testing.T) {
		root := writeRunners(t, runner(0), runner(1), runner(2), runner(3))
		file := filepath.Join(root, "1", RawFile)
		if err := os.WriteFile(file, []byte("not gzip"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := mergeDirs(t, root)
		wantInvalid(t, err, file+": not a gzipped raw file")
	})
	t.Run("scenario file unreadable at the runner's end", func(t *testing.T) {
		other := runner(2)
		other.Scenario.SHA256, other.Scenario.Content, other.Scenario.Unreadable = "", "", "open scenarios/merged.yaml: no such file or directory"
		root := writeRunners(t, runner(0), runner(1), other, runner(3))
		_, err := mergeDirs(t, root)
		wantInvalid(t, err, filepath.Join(root, "2")+": holds no scenario file")
	})
	t.Run("other layout", func(t *testing.T) {
		other := runner(3)
		other.Recorder.Layout.Digits = 2
		root := writeRunners(t, runner(0), runner(1), runner(2), other)
		_, err := mergeDirs(t, root)
		wantInvalid(t, err, filepath.Join(root, "3")+": histogram layout")
	})
	t.Run("oracle without kept reads", func(t *testing.T) {
		// Runners with an oracle that kept no reads: the oracle's
		// thresholds are inconclusive, with the reason.
		raws := []*Raw{runner(0), runner(1), runner(2), runner(3)}
		for _, r := range raws {
			r.Evidence.NoOracle = ""
			r.Oracle = &oracle.Log{}
		}
		out, err := mergeDirs(t, writeRunners(t, raws...))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Judgement.Summary.Results {
			if r.Threshold.Metric == metric.StaleReads.Name() && (!r.NoData || !strings.Contains(r.Reason, "kept no reads")) {
				t.Errorf("%s: %s (%s), want no data: kept no reads", r.Threshold, r.Verdict(), r.Reason)
			}
		}
	})
}

func wantInvalid(t *testing.T, err error, want string) {
	t.Helper()
	var invalid *InvalidError
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), want) {
		t.Fatalf("merge: %v, want an InvalidError containing %q", err, want)
	}
}

// TestMergeJudgesReadsAcrossRunners: a write acknowledged by one runner
// and an older value read a second later by another, each runner's
// oracle blind to it, is a stale read of the merged run, under the
// reading runner's tags; the runners' own counts are replaced.
func TestMergeJudgesReadsAcrossRunners(t *testing.T) {
	segs, seq := segment.Split(2)
	labels := oracle.Label{Scenario: "default", Name: "get", Phase: "outage", Source: "memory"}
	flag := func(v int) []byte {
		return fmt.Appendf(nil, `{"key":"flag-001","environment":"production","version":%d}`, v)
	}
	raws := make([]*Raw, 2)
	for i := range raws {
		rec := record.New(mergeStart)
		rec.AddRequest(record.Request{Tags: record.Tags{Name: "get", Phase: "steady"}, At: mergeStart, Duration: time.Millisecond})
		// Each runner's own judgement: nothing stale.
		rec.Count(metric.StaleReads, record.Tags{Phase: "outage"}, 0)
		orc := oracle.New()
		// Runner 1's clock is 2 s behind the owner's.
		offset := time.Duration(i) * 2 * time.Second
		orc.Keep(mergeStart.Add(-offset))
		at := func(d time.Duration) time.Time { return mergeStart.Add(d - offset) }
		if i == 0 {
			if err := orc.Acknowledge(flag(2), at(5*time.Second), at(5*time.Second+10*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		} else {
			orc.ReadAs(flag(1), at(6*time.Second), at(6*time.Second+time.Millisecond), labels)
			orc.ReadAs(flag(1), at(4*time.Second), at(4*time.Second+time.Millisecond), labels) // before the write: fresh
		}
		raws[i] = rawOf(t, mergeScenario, segs[i], seq.String(), rec)
		raws[i].Evidence.NoOracle = ""
		raws[i].ClockOffset = offset
		l := orc.Log()
		raws[i].Oracle = &l
	}
	out, err := mergeDirs(t, writeRunners(t, raws...))
	if err != nil {
		t.Fatal(err)
	}
	sum, ok := out.Report, false
	for _, m := range sum.Metrics {
		if m.Name == "stale_reads" && m.Submetric == "" {
			ok = m.Values["count"] == 1
		}
	}
	if !ok {
		t.Errorf("merged stale_reads: %+v, want count 1", sum.Metrics)
	}
	for _, r := range out.Judgement.Summary.Results {
		if r.Threshold.Metric == "stale_reads" && (r.Verdict() != verdict.Fail || r.Observed != 1) {
			t.Errorf("%s: %s observed %v, want fail observed 1", r.Threshold, r.Verdict(), r.Observed)
		}
	}
	if notes := strings.Join(out.Report.Notes, "\n"); !strings.Contains(notes, "2 flag read(s) of 2 runner(s) judged against 1 acknowledged write(s) of 1 flag(s) from all of them: 1 stale") {
		t.Errorf("notes: %s", notes)
	}
}
