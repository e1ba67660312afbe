package run

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/engine"
	"github.com/flagstorm/flagstorm/harness/internal/oracle"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/rendezvous"
	"github.com/flagstorm/flagstorm/harness/internal/report"
	"github.com/flagstorm/flagstorm/harness/internal/segment"
	"github.com/flagstorm/flagstorm/harness/internal/timeline"
	"github.com/flagstorm/flagstorm/scenarios"
)

// A runner's raw file holds what merge needs, as the execution had it:
// the scenario file and its hash, its segment and sequence, the clock
// offset measured at the shared start, the events, the notes but the
// judge's, the recorder and the oracle's log; and it reads back.
func TestWriteRawReadsBack(t *testing.T) {
	p := testPlanOf(t, mergeScenario)
	seq, err := segment.ParseSequence("0,1/3,2/3,1")
	if err != nil {
		t.Fatal(err)
	}
	tuple, err := segment.NewTuple(seq.Segments()[1], seq)
	if err != nil {
		t.Fatal(err)
	}
	rec := record.New(mergeStart)
	rec.AddRequest(record.Request{Tags: record.Tags{Name: "get", Phase: "steady"}, At: mergeStart, Duration: time.Millisecond})
	orc := oracle.New()
	orc.Keep(mergeStart)
	if err := orc.Acknowledge([]byte(`{"key":"flag-001","environment":"production","version":2}`), mergeStart, mergeStart.Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	r := &execution{
		plan: p, target: Remote{URLs: []string{"http://127.0.0.1:1"}}, opts: Options{Sequence: seq},
		rec: rec, orc: orc, tuple: tuple,
		res:    &engine.Result{Start: mergeStart, End: mergeStart.Add(30 * time.Second), Recorder: rec},
		events: []timeline.Event{{Phase: "steady"}, {Phase: "outage", Err: errors.New("proxy redis: gone")}},
		ev:     Evidence{NoColdStart: "none", Disturbed: []string{"outage"}},
		shared: &rendezvous.Start{At: mergeStart, Skew: rendezvous.Skew{Offset: 1500 * time.Microsecond, Uncertainty: 40 * time.Microsecond}},
	}
	out := &Outcome{
		Report:    report.Run{TargetURL: "http://127.0.0.1:1", Notes: []string{"durability: not checked", "inconclusive: no data for x"}},
		Judgement: Judgement{Notes: []string{"inconclusive: no data for x"}},
	}
	// The file edited during the run: the raw file keeps what ran.
	if err := os.WriteFile(p.Spec.File, []byte("name: edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := r.writeRaw(dir, out); err != nil {
		t.Fatal(err)
	}
	raw, err := ReadRaw(filepath.Join(dir, RawFile))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case raw.Scenario.Content != mergeScenario || len(raw.Scenario.SHA256) != 64:
		t.Errorf("scenario %+v", raw.Scenario)
	case raw.Segment != "1/3:2/3" || raw.Sequence != "0,1/3,2/3,1":
		t.Errorf("segment %q sequence %q", raw.Segment, raw.Sequence)
	case raw.ClockOffset != 1500*time.Microsecond || raw.ClockUncertainty != 40*time.Microsecond:
		t.Errorf("clock offset %s ± %s, want 1.5ms ± 40µs", raw.ClockOffset, raw.ClockUncertainty)
	case !slices.Equal(raw.Notes, []string{"durability: not checked"}):
		t.Errorf("notes %q, want the measures' only", raw.Notes)
	case len(raw.Events) != 2 || raw.Events[1].Err != "proxy redis: gone":
		t.Errorf("events %+v", raw.Events)
	case raw.Oracle == nil || !raw.Oracle.Kept || len(raw.Oracle.Writes) != 1:
		t.Errorf("oracle %+v", raw.Oracle)
	case raw.Recorder.Requests != 1 || raw.Evidence.NoColdStart != "none":
		t.Errorf("recorder %d requests, evidence %+v", raw.Recorder.Requests, raw.Evidence)
	}
}

// A built-in file's plan carries the embedded bytes it was parsed from,
// so its raw file can be merged wherever the binary ran (no scenarios/
// folder needed).
func TestBuiltinPlanKeepsItsSource(t *testing.T) {
	plans, err := Plans(nil, []string{"redis-outage"})
	if err != nil || len(plans) != 1 {
		t.Fatalf("%d plans, %v", len(plans), err)
	}
	want, err := scenarios.BuiltinSource("redis-outage")
	if err != nil {
		t.Fatal(err)
	}
	p := plans[0]
	sum := sha256.Sum256(want)
	if string(p.Source) != string(want) || p.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("plan source %d bytes (sha256 %s), want the embedded %d bytes", len(p.Source), p.SHA256, len(want))
	}
}
