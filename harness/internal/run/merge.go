package run

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/engine"
	"github.com/flagstorm/flagstorm/harness/internal/oracle"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/report"
	"github.com/flagstorm/flagstorm/harness/internal/segment"
	"github.com/flagstorm/flagstorm/harness/internal/timeline"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/internal/metric"
	"github.com/flagstorm/flagstorm/scenarios"
)

// Runner is one runner's raw material and the directory it came from.
type Runner struct {
	Dir string
	Raw *Raw
	seg segment.Segment
}

// ReadRunners reads the runners' raw files. Each dir is a runner's
// report directory (it holds RawFile), or a directory of them: then each
// of its subdirectories (but skip, the merge's own output, and hidden
// ones) is a runner, and one without RawFile is an error naming it, as
// is a file that cannot be read. Every problem is reported, in one
// *InvalidError.
func ReadRunners(dirs []string, skip string) ([]Runner, error) {
	var out []Runner
	var errs []error
	read := func(dir string) {
		raw, err := ReadRaw(filepath.Join(dir, RawFile))
		switch {
		case errors.Is(err, os.ErrNotExist):
			errs = append(errs, fmt.Errorf("%s: %s missing", dir, RawFile))
		case err != nil:
			errs = append(errs, err)
		default:
			out = append(out, Runner{Dir: dir, Raw: raw})
		}
	}
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", dir, err))
			continue
		}
		if !fi.IsDir() {
			errs = append(errs, fmt.Errorf("%s: not a directory (a runner's --out directory, holding %s, or a directory of them)", dir, RawFile))
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, RawFile)); err == nil {
			read(dir)
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var subs []string
		for _, e := range entries {
			sub := filepath.Join(dir, e.Name())
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && !sameDir(sub, skip) {
				subs = append(subs, sub)
			}
		}
		if len(subs) == 0 {
			errs = append(errs, fmt.Errorf("%s: %s missing (and no runner directory under it)", dir, RawFile))
		}
		for _, sub := range subs {
			read(sub)
		}
	}
	if len(errs) > 0 {
		return nil, &InvalidError{Err: errors.Join(errs...)}
	}
	return out, nil
}

// sameDir reports whether a and b name one directory.
func sameDir(a, b string) bool {
	if b == "" {
		return false
	}
	ai, err1 := os.Stat(a)
	bi, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(ai, bi)
}

// checkRunners checks that the runners are one run: one scenario file
// (by content), one histogram layout, one segment sequence, segments
// covering 0 to 1 exactly once. It returns the plan of the scenario and
// the runners in segment order, or an *InvalidError naming every
// problem and the directory it is in.
func checkRunners(runners []Runner) (*Plan, []Runner, error) {
	if len(runners) == 0 {
		return nil, nil, &InvalidError{Err: errors.New("no runner to merge")}
	}
	var errs []error
	first := runners[0]
	var segs []segment.Segment
	ok := make([]Runner, 0, len(runners))
	for _, r := range runners {
		raw := r.Raw
		seg, err := segment.Parse(raw.Segment)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: segment %q: %w", r.Dir, raw.Segment, err))
			continue
		}
		r.seg = seg
		segs = append(segs, seg)
		ok = append(ok, r)
		if why := raw.Scenario.Unreadable; why != "" {
			errs = append(errs, fmt.Errorf("%s: holds no scenario file: the runner could not read %s again at its end (%s)", r.Dir, raw.Scenario.File, why))
		} else if sum := sha256.Sum256([]byte(raw.Scenario.Content)); hex.EncodeToString(sum[:]) != raw.Scenario.SHA256 {
			errs = append(errs, fmt.Errorf("%s: the scenario file's content does not match its sha256 %s: the file is damaged", r.Dir, raw.Scenario.SHA256))
		}
		if r.Dir == first.Dir {
			continue
		}
		if raw.Scenario.SHA256 != first.Raw.Scenario.SHA256 {
			errs = append(errs, fmt.Errorf("%s: ran scenario %s (%s, sha256 %.12s), %s ran %s (%s, sha256 %.12s): runners of one run run the same file", r.Dir, raw.Scenario.Name, raw.Scenario.File, raw.Scenario.SHA256, first.Dir, first.Raw.Scenario.Name, first.Raw.Scenario.File, first.Raw.Scenario.SHA256))
		}
		if raw.Recorder.Layout != first.Raw.Recorder.Layout {
			errs = append(errs, fmt.Errorf("%s: histogram layout %s differs from %s's %s: histograms merge exactly only within one layout", r.Dir, raw.Recorder.Layout, first.Dir, first.Raw.Recorder.Layout))
		}
		if raw.Sequence != first.Raw.Sequence {
			errs = append(errs, fmt.Errorf("%s: segment sequence %q differs from %s's %q", r.Dir, raw.Sequence, first.Dir, first.Raw.Sequence))
		}
	}
	if len(segs) == len(runners) {
		if err := segment.Cover(segs); err != nil {
			var ran []string
			for _, r := range ok {
				ran = append(ran, fmt.Sprintf("%s ran %s", r.Dir, r.seg))
			}
			errs = append(errs, fmt.Errorf("the runners do not cover the run exactly once (%s): %w", strings.Join(ran, ", "), err))
		}
	}
	if len(errs) > 0 {
		return nil, nil, &InvalidError{Err: errors.Join(errs...)}
	}
	spec, err := scenarios.Parse(first.Raw.Scenario.File, []byte(first.Raw.Scenario.Content))
	if err != nil {
		return nil, nil, &InvalidError{Err: fmt.Errorf("%s: the scenario file it ran: %w", first.Dir, err)}
	}
	p, err := NewPlan(spec)
	if err != nil {
		return nil, nil, err
	}
	slices.SortStableFunc(ok, func(a, b Runner) int { return a.seg.From.Cmp(b.seg.From) })
	return p, ok, nil
}

// Merge judges runners that each ran a segment of one scenario as one
// run, with the judge of a single run (Execute's, JudgeExternal's): it
// checks that they are one run (checkRunners: an *InvalidError naming
// the gap or the difference otherwise), merges their recorders exactly
// (record.Merge), judges the oracle's reads of every runner against the
// writes of all (oracle.Judge), times the recovery after each fault from
// the merged per-second buckets and the timeline owner's events (the
// runner whose segment starts at 0), then judges, prints the summary and
// writes the reports to o.Out (not nested).
//
// Times are put on the timeline owner's clock by each runner's
// ClockOffset. What a runner could not measure stays unmeasured in the
// merge (its reason, naming the runner): a threshold on it is
// inconclusive, never a pass.
func Merge(_ context.Context, runners []Runner, o Options) (*Outcome, error) {
	o = o.withDefaults()
	p, runners, err := checkRunners(runners)
	if err != nil {
		return nil, err
	}
	spec, owner := p.Spec, runners[0]
	start := owner.Raw.Start.Add(owner.Raw.ClockOffset)
	end := start
	for _, r := range runners {
		end = later(end, r.Raw.End.Add(r.Raw.ClockOffset))
	}
	ev, orcNote, judgeOracle := mergeEvidence(runners)
	notes := []string{mergedNote(runners)}
	for _, r := range runners[1:] {
		if d := r.Raw.Start.Add(r.Raw.ClockOffset).Sub(start); d > MergeStartTolerance || d < -MergeStartTolerance {
			notes = append(notes, fmt.Sprintf("runner %s started %s from the owner of the timeline (on its clock): its phases do not line up with the owner's; start the runners together (run --rendezvous)", r.seg, d.Round(time.Millisecond)))
		}
	}
	recs := make([]*record.Recorder, 0, len(runners))
	readBack := readBackRunner(runners)
	for i, r := range runners {
		snap := r.Raw.Recorder
		snap.Start = snap.Start.Add(r.Raw.ClockOffset)
		snap.Series = slices.DeleteFunc(slices.Clone(snap.Series), func(s record.SeriesSnapshot) bool {
			switch s.Metric {
			case metric.RecoveryTime.Name():
				return true // timed again on the merged buckets
			case metric.StaleReads.Name():
				if s.Tags.Phase == ReadBackPhase {
					// Every runner reads the whole key space back: the
					// one that found the most stands for all.
					return i != readBack
				}
				return judgeOracle
			case metric.Staleness.Name():
				return judgeOracle
			}
			return false
		})
		rec, err := record.FromSnapshot(snap)
		if err != nil {
			return nil, &InvalidError{Err: fmt.Errorf("%s: %w", filepath.Join(r.Dir, RawFile), err)}
		}
		recs = append(recs, rec)
	}
	merged, err := record.Merge(recs...)
	if err != nil {
		var le *record.LayoutError
		if errors.As(err, &le) {
			return nil, &InvalidError{Err: fmt.Errorf("%s: %w", runners[le.Index].Dir, err)}
		}
		return nil, err
	}
	if judgeOracle {
		n, err := judgeReads(runners, merged)
		if err != nil {
			return nil, &InvalidError{Err: err}
		}
		notes = append(notes, n)
	} else if orcNote != "" {
		notes = append(notes, orcNote)
	}
	events := make([]timeline.Event, 0, len(owner.Raw.Events))
	for _, e := range owner.Raw.Events {
		events = append(events, e.event(owner.Raw.ClockOffset))
	}
	rs, band, why := recoveries(spec, merged.Buckets(), start, end, events)
	ev.NoRecovery = why
	if why != "" && len(ev.Disturbed) > 0 {
		notes = append(notes, "recovery time: not measured ("+why+")")
	}
	notes = append(notes, recordRecoveries(merged, rs, band)...)

	interrupted, partial := false, []string(nil)
	var aborted *verdict.Result
	for _, r := range runners {
		if r.Raw.Interrupted {
			interrupted = true
			partial = append(partial, fmt.Sprintf("runner %s: %s", r.seg, cmp.Or(r.Raw.PartialReason, "interrupted")))
		}
		if a := r.Raw.Aborted; a != nil && aborted == nil {
			for _, t := range p.Thresholds {
				if t.Key == a.Key && t.Index == a.Index {
					aborted = &verdict.Result{Threshold: t}
				}
			}
		}
	}
	res := &engine.Result{Start: start, End: end, Recorder: merged, Interrupted: interrupted, Aborted: aborted}
	j := judge(judgeInput{
		thresholds: p.Thresholds, stats: stats(res), evidence: ev, expected: owner.Raw.expected(),
		interrupted: interrupted, aborted: aborted, ran: end.Sub(start),
	})
	rep := summarize(spec, owner.Raw.Target, targetURLs(runners), res, j, ev)
	if interrupted {
		rep.Partial, rep.PartialReason = true, strings.Join(partial, "; ")
	}
	for i := range rep.Phases {
		if i >= len(events) {
			continue
		}
		e := events[i]
		rep.Phases[i].Applied, rep.Phases[i].Removed = e.Applied, e.Removed
		if e.Err != nil {
			notes = append(notes, fmt.Sprintf("phase %s: %v", e.Phase, e.Err))
		}
	}
	for _, r := range runners {
		for _, n := range r.Raw.Notes {
			notes = append(notes, fmt.Sprintf("runner %s: %s", r.seg, n))
		}
	}
	rep.Notes = append(notes, j.Notes...)
	out := &Outcome{Target: owner.Raw.Target, Report: rep, Judgement: j}
	if err := report.WriteSummary(o.Stdout, rep, report.SummaryOptions{Color: o.Color}); err != nil {
		return nil, err
	}
	if o.Out != "" {
		if err := WriteReports(o.Out, rep); err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Stderr, "reports in %s (summary.json, junit.xml, report.html)\n", o.Out)
	}
	return out, nil
}

// MergeStartTolerance is how far apart (on the owner's clock) runners
// may start before the merge's report says their phases do not line up:
// half the per-second buckets' width.
const MergeStartTolerance = 500 * time.Millisecond

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// mergedNote says which runners the merge is made of.
func mergedNote(runners []Runner) string {
	parts := make([]string, len(runners))
	for i, r := range runners {
		parts[i] = fmt.Sprintf("%s from %s", r.seg, r.Dir)
		if r.Raw.ClockOffset != 0 || r.Raw.ClockUncertainty != 0 {
			parts[i] += fmt.Sprintf(" (clock offset %s ± %s)", r.Raw.ClockOffset, r.Raw.ClockUncertainty)
		}
	}
	return fmt.Sprintf("merged from %d runner(s): %s", len(runners), strings.Join(parts, ", "))
}

// targetURLs are the runners' targets, each once.
func targetURLs(runners []Runner) string {
	var urls []string
	for _, r := range runners {
		if u := r.Raw.TargetURL; u != "" && !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return strings.Join(urls, ", ")
}

// expected is the runner's expectations as Expected (nil: none).
func (raw *Raw) expected() Expected {
	if !raw.Expect {
		return nil
	}
	return func(key string, index int) scenarios.Expectation {
		for _, x := range raw.Expected {
			if x.Key == key && x.Index == index {
				return x.Expectation
			}
		}
		return scenarios.ExpectPass
	}
}

// readBackRunner is the index of the runner whose read-back found the
// most flags stale at rest (the first if none did).
func readBackRunner(runners []Runner) int {
	best, most := 0, int64(-1)
	for i, r := range runners {
		var n int64
		for _, s := range r.Raw.Recorder.Series {
			if s.Metric == metric.StaleReads.Name() && s.Tags.Phase == ReadBackPhase {
				n += s.Sum
			}
		}
		if n > most {
			best, most = i, n
		}
	}
	return best
}

// reasons is why some runners could not measure something: "" when
// every runner could, the reason alone when every runner gave the same
// one, else each runner's.
func reasons(runners []Runner, why func(Evidence) string) string {
	var parts, distinct []string
	for _, r := range runners {
		if w := why(r.Raw.Evidence); w != "" {
			parts = append(parts, fmt.Sprintf("runner %s: %s", r.seg, w))
			if !slices.Contains(distinct, w) {
				distinct = append(distinct, w)
			}
		}
	}
	if len(parts) == len(runners) && len(distinct) == 1 {
		return distinct[0]
	}
	return strings.Join(parts, "; ")
}

// mergeEvidence is what the merged run measured: what any runner could
// not measure is unmeasured (fail closed), except a cold start, timed by
// whichever runner started the target. judgeOracle is true when every
// runner kept its reads, so that reads are judged across runners;
// otherwise, with several runners, the oracle's metrics are unmeasured
// and note says why.
func mergeEvidence(runners []Runner) (ev Evidence, note string, judgeOracle bool) {
	owner := runners[0].Raw.Evidence
	ev.Disturbed = slices.Clone(owner.Disturbed)
	ev.NoDurability = reasons(runners, func(e Evidence) string { return e.NoDurability })
	ev.NoOracle = reasons(runners, func(e Evidence) string { return e.NoOracle })
	ev.NoColdStart = reasons(runners, func(e Evidence) string { return e.NoColdStart })
	for _, r := range runners {
		e := r.Raw.Evidence
		if e.NoColdStart == "" {
			ev.NoColdStart = "" // this runner started the target and timed it
		}
		ev.Sources = ev.Sources || e.Sources
		for p, s := range e.Starved {
			if ev.Starved == nil {
				ev.Starved = map[string]Starvation{}
			}
			if old, ok := ev.Starved[p]; !ok || s.Bound > old.Bound {
				ev.Starved[p] = Starvation{Why: fmt.Sprintf("runner %s: %s", r.seg, s.Why), Bound: s.Bound}
			}
		}
	}
	if ev.NoOracle != "" || len(runners) == 1 {
		return ev, "", false
	}
	var lacking []string
	for _, r := range runners {
		if r.Raw.Oracle == nil || !r.Raw.Oracle.Kept {
			lacking = append(lacking, fmt.Sprintf("runner %s (%s)", r.seg, r.Dir))
		}
	}
	if len(lacking) > 0 {
		ev.NoOracle = fmt.Sprintf("%s kept no reads in its raw file, so reads cannot be judged against the other runners' writes", strings.Join(lacking, ", "))
		return ev, "oracle: not judged across runners: " + ev.NoOracle, false
	}
	return ev, "", true
}

// judgeReads judges every runner's reads against every runner's writes
// and records the stale ones into rec, as the runners' observers would
// have: stale_reads and staleness_seconds under the read's tags. It
// returns a note.
func judgeReads(runners []Runner, rec *record.Recorder) (string, error) {
	srcs := make([]oracle.Source, len(runners))
	for i, r := range runners {
		srcs[i] = oracle.Source{Log: *r.Raw.Oracle, Offset: r.Raw.ClockOffset}
	}
	j, err := oracle.Judge(srcs)
	var le *oracle.LogError
	if errors.As(err, &le) && le.Index < len(runners) {
		return "", fmt.Errorf("%s: %w", runners[le.Index].Dir, err)
	}
	if err != nil {
		return "", err
	}
	stale := 0
	for _, s := range j.Stale {
		tags := record.Tags{Scenario: s.Label.Scenario, Name: s.Label.Name, Phase: s.Label.Phase, Source: s.Label.Source}
		for _, d := range s.Staleness {
			rec.Count(metric.StaleReads, tags, 1)
			rec.Observe(metric.Staleness, tags, d)
		}
		stale += len(s.Staleness)
	}
	return fmt.Sprintf("oracle: %d flag read(s) of %d runner(s) judged against %d acknowledged write(s) of %d flag(s) from all of them: %d stale", j.Reads, len(runners), j.Writes, j.FlagsWritten, stale), nil
}
