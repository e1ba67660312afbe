package run

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/oracle"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/segment"
	"github.com/flagstorm/flagstorm/harness/internal/timeline"
	"github.com/flagstorm/flagstorm/scenarios"
)

// RawFile is the name of a run's raw material, written beside
// summary.json by every run with --out, read by flagstorm merge.
const RawFile = "raw.json.gz"

// RawFormat and RawVersion identify the raw material's format; Merge
// reads only this version, and refuses any other naming the file.
const (
	RawFormat  = "flagstorm-raw"
	RawVersion = 1
)

// Raw is one runner's raw material: everything flagstorm merge needs to
// judge several runners (each a segment of one run) as one run, with the
// judge of a single run. The file is raw.json.gz: this struct as JSON,
// gzipped. Times are the runner's wall clock; ClockOffset puts them on
// the reference clock (the runner that owns the timeline's).
type Raw struct {
	Format  string `json:"format"`  // RawFormat
	Version int    `json:"version"` // RawVersion
	// Scenario is the scenario file the runner ran, whole: merge judges
	// with its thresholds, and refuses runners of different files (by
	// SHA256 of the content).
	Scenario RawScenario `json:"scenario"`
	// Segment is the part of the run this runner did ("0:1" for all of
	// it), Sequence the segment sequence it was striped over ("" for
	// k6's default); package segment's canonical forms.
	Segment  string `json:"segment"`
	Sequence string `json:"sequence,omitempty"`
	// Target names the target (a profile, a variant, "" for a running
	// service); TargetURL is what the report shows.
	Target    string `json:"target,omitempty"`
	TargetURL string `json:"targetURL,omitempty"`
	// Expectations: Expect is true when the target had an expect: list;
	// Expected are the thresholds (key and index) it did not expect to
	// pass, with what it expected (scenarios.Expectation: 1 fail, 2
	// either).
	Expect   bool          `json:"expect,omitempty"`
	Expected []RawExpected `json:"expected,omitempty"`
	// Start and End are the load's, on the runner's clock.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// ClockOffset is what to add to this runner's times to put them on
	// the reference clock (measured at the shared start; 0 without one).
	ClockOffset time.Duration `json:"clockOffsetNs"`
	// ClockUncertainty bounds the error of ClockOffset (half the least
	// round trip of the measurement); 0 without a shared start.
	ClockUncertainty time.Duration `json:"clockUncertaintyNs,omitempty"`
	// Interrupted: a signal cut the load short (PartialReason says
	// where); Aborted names the abortOnFail threshold that stopped it.
	Interrupted   bool          `json:"interrupted,omitempty"`
	PartialReason string        `json:"partialReason,omitempty"`
	Aborted       *RawThreshold `json:"aborted,omitempty"`
	// Evidence is what the runner could not measure and why.
	Evidence Evidence `json:"evidence"`
	// Events are the timeline's, one per phase in order: when its fault
	// was applied and removed (zero when this runner applied none).
	Events []RawEvent `json:"events,omitempty"`
	// Notes are the runner's report's notes.
	Notes []string `json:"notes,omitempty"`
	// Recorder is every metric by tag set (phase and source included),
	// with its histogram, and the per-second buckets.
	Recorder record.Snapshot `json:"recorder"`
	// Oracle is the oracle's acknowledged writes and, when it kept them,
	// its reads; nil when the run had no oracle.
	Oracle *oracle.Log `json:"oracle,omitempty"`
}

// RawScenario is the scenario file of a raw file.
type RawScenario struct {
	Name    string `json:"name"`
	File    string `json:"file"`
	SHA256  string `json:"sha256"`
	Content string `json:"content"`
	// Unreadable says why the runner could not read the file again at
	// the end of the run ("" when it could): such a raw file cannot be
	// merged.
	Unreadable string `json:"unreadable,omitempty"`
}

// RawExpected is what the target was expected to do with one threshold.
type RawExpected struct {
	RawThreshold
	Expectation scenarios.Expectation `json:"expectation"`
}

// RawThreshold names one expression of a threshold key.
type RawThreshold struct {
	Key   string `json:"key"`
	Index int    `json:"index"`
}

// RawEvent is a timeline.Event as data.
type RawEvent struct {
	Phase   string    `json:"phase"`
	What    string    `json:"what,omitempty"`
	Applied time.Time `json:"applied,omitzero"`
	Removed time.Time `json:"removed,omitzero"`
	Err     string    `json:"err,omitempty"`
}

// event is e on the reference clock.
func (e RawEvent) event(offset time.Duration) timeline.Event {
	ev := timeline.Event{Phase: e.Phase, What: e.What}
	if !e.Applied.IsZero() {
		ev.Applied = e.Applied.Add(offset)
	}
	if !e.Removed.IsZero() {
		ev.Removed = e.Removed.Add(offset)
	}
	if e.Err != "" {
		ev.Err = errors.New(e.Err)
	}
	return ev
}

// writeRaw writes the run's raw material (RawFile) into dir beside the
// reports, for flagstorm merge.
func (r *execution) writeRaw(dir string, out *Outcome) error {
	raw, err := r.raw(out)
	if err != nil {
		return fmt.Errorf("raw output: %w", err)
	}
	return WriteRaw(dir, raw)
}

// raw gathers the run's raw material.
func (r *execution) raw(out *Outcome) (*Raw, error) {
	spec, res := r.plan.Spec, r.res
	scenario := RawScenario{Name: spec.Name, File: spec.File}
	if r.plan.Source != nil {
		// The bytes the run parsed (a file edited since is not what ran).
		scenario.SHA256, scenario.Content = r.plan.SHA256, string(r.plan.Source)
	} else if content, err := os.ReadFile(spec.File); err == nil {
		sum := sha256.Sum256(content)
		scenario.SHA256, scenario.Content = hex.EncodeToString(sum[:]), string(content)
	} else {
		// A plan built in code from a file no longer readable: the raw
		// file says so, and merge refuses it, naming it.
		scenario.Unreadable = err.Error()
	}
	snap, err := r.rec.Snapshot()
	if err != nil {
		return nil, err
	}
	raw := &Raw{
		Format: RawFormat, Version: RawVersion,
		Scenario:  scenario,
		Segment:   segment.Full().String(),
		Target:    out.Target,
		TargetURL: out.Report.TargetURL,
		Start:     res.Start, End: res.End,
		Interrupted: res.Interrupted, PartialReason: out.Report.PartialReason,
		Evidence: r.ev,
		Notes:    measureNotes(out),
		Recorder: snap,
	}
	if r.tuple != nil {
		raw.Segment = r.tuple.Segment().String()
	}
	if len(r.opts.Sequence) > 0 {
		// As given: runners given none share k6's default striping.
		raw.Sequence = r.opts.Sequence.String()
	}
	if r.shared != nil {
		raw.ClockOffset = r.shared.Skew.Offset
		raw.ClockUncertainty = r.shared.Skew.Uncertainty
	}
	if e, ok := r.target.(Expecter); ok {
		raw.Expect = true
		expected := e.Expected(spec)
		for _, t := range r.plan.Thresholds {
			if x := expected(t.Key, t.Index); x != scenarios.ExpectPass {
				raw.Expected = append(raw.Expected, RawExpected{RawThreshold{Key: t.Key, Index: t.Index}, x})
			}
		}
	}
	if a := res.Aborted; a != nil {
		raw.Aborted = &RawThreshold{Key: a.Threshold.Key, Index: a.Threshold.Index}
	}
	for _, e := range r.events {
		re := RawEvent{Phase: e.Phase, What: e.What, Applied: e.Applied, Removed: e.Removed}
		if e.Err != nil {
			re.Err = e.Err.Error()
		}
		raw.Events = append(raw.Events, re)
	}
	if r.orc != nil {
		l := r.orc.Log()
		raw.Oracle = &l
	}
	return raw, nil
}

// measureNotes are the report's notes but the judge's own (the verdict
// of this runner's share, which the merge judges again as a whole).
func measureNotes(out *Outcome) []string {
	notes, judged := out.Report.Notes, out.Judgement.Notes
	if n := len(notes) - len(judged); n >= 0 && slices.Equal(notes[n:], judged) {
		return notes[:n]
	}
	return notes
}

// WriteRaw writes raw into dir as RawFile, gzipped JSON, through a
// temporary file renamed into place: a reader never sees half a file.
func WriteRaw(dir string, raw *Raw) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, RawFile+".*.tmp")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }() // after the rename: nothing to remove
	zw := gzip.NewWriter(f)
	err = f.Chmod(0o644) // as the reports: a temporary file is the owner's only
	if err == nil {
		err = json.NewEncoder(zw).Encode(raw)
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", RawFile, err)
	}
	return os.Rename(f.Name(), filepath.Join(dir, RawFile))
}

// ReadRaw reads a raw file, checking its format and version; an error
// names the file.
func ReadRaw(path string) (*Raw, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: not a gzipped raw file: %w", path, err)
	}
	dec := json.NewDecoder(zr)
	dec.DisallowUnknownFields()
	var raw Raw
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: unreadable: %w", path, err)
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, fmt.Errorf("%s: unreadable: %w", path, err)
	}
	switch {
	case raw.Format != RawFormat:
		return nil, fmt.Errorf("%s: format %q, not %q", path, raw.Format, RawFormat)
	case raw.Version != RawVersion:
		return nil, fmt.Errorf("%s: raw format version %d; this flagstorm reads version %d", path, raw.Version, RawVersion)
	}
	return &raw, nil
}
