package run

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/rendezvous"
	"github.com/flagstorm/flagstorm/harness/internal/segment"
	"github.com/flagstorm/flagstorm/scenarios"
)

// faultPlan is a short open-model file with a fault phase: 40 arrivals.
func faultPlan(t *testing.T) *Plan {
	t.Helper()
	spec, err := scenarios.Parse("split.yaml", []byte(`name: split
load: {executor: constant-arrival-rate, rate: 40, duration: 1s, preAllocatedVUs: 5, maxVUs: 20}
requests:
  - {name: get, weight: 1, method: GET, path: "/x"}
timeline:
  - {phase: steady, at: 0s}
  - {phase: slow,   at: 500ms, fault: {proxy: redis, type: latency, latency: 20ms}}
thresholds:
  http_reqs: ["count>0"]
  recovery_time: ["value<5"]
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func stubTarget(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

func half(t *testing.T, s string) segment.Segment {
	t.Helper()
	seg, err := segment.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

func TestSegmented(t *testing.T) {
	p := faultPlan(t)
	whole, tuple, err := p.Segmented(segment.Segment{}, nil)
	if err != nil || whole != p || !tuple.IsFull() {
		t.Errorf("the whole run: plan changed %v, tuple %v, err %v", whole != p, tuple, err)
	}
	part, tuple, err := p.Segmented(half(t, "1/2:1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if part == p || part.Load.Segment != tuple || p.Load.Segment != nil || tuple.Segment().String() != "1/2:1" {
		t.Errorf("segment 1/2:1: the plan's load segment %v (the original's %v), tuple %v", part.Load.Segment, p.Load.Segment, tuple)
	}
	seq, err := segment.ParseSequence("0,1/4,1")
	if err != nil {
		t.Fatal(err)
	}
	var invalid *InvalidError
	if _, _, err := p.Segmented(half(t, "1/2:1"), seq); !errors.As(err, &invalid) {
		t.Errorf("a segment outside its sequence: err %v, want an *InvalidError", err)
	}
}

func TestFollowedPlanHasNoFaults(t *testing.T) {
	p := faultPlan(t)
	f := p.followed()
	if f.HasFaults() || f.HasActions() || len(f.Disturbances()) != 0 {
		t.Errorf("followed plan still disturbs: %v", f.Disturbances())
	}
	if !p.HasFaults() {
		t.Error("followed changed the original plan")
	}
	if len(f.Steps) != len(p.Steps) || f.Steps[1].Span != p.Steps[1].Span {
		t.Errorf("followed plan's phases %+v, want the original's %+v", f.Steps, p.Steps)
	}
}

// A follower of a fault file runs against a target without Toxiproxy,
// applies nothing, and says who owns the timeline; the owner of the same
// file against that target is refused.
func TestFollowerOfAFaultFile(t *testing.T) {
	p := faultPlan(t)
	url := stubTarget(t)
	_, err := Execute(t.Context(), p, Remote{URLs: []string{url}}, Options{Segment: half(t, "0:1/2")})
	var invalid *InvalidError
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "injects faults") {
		t.Errorf("owner of the timeline without Toxiproxy: err %v, want an *InvalidError about the faults", err)
	}
	dir := t.TempDir()
	out, err := Execute(t.Context(), p, Remote{URLs: []string{url}}, Options{Segment: half(t, "1/2:1"), Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	// The raw output names the sequence the load was striped over, k6's
	// default made explicit, and has no fault times.
	raw, err := ReadRaw(filepath.Join(dir, RawFile))
	if err != nil {
		t.Fatal(err)
	}
	if raw.Segment != "1/2:1" || raw.Sequence != "0,1/2,1" || slices.ContainsFunc(raw.Events, func(e RawEvent) bool { return !e.Applied.IsZero() }) {
		t.Errorf("raw: segment %q, sequence %q, events %+v", raw.Segment, raw.Sequence, raw.Events)
	}
	rep := out.Report
	for _, ph := range rep.Phases {
		if !ph.Applied.IsZero() {
			t.Errorf("the follower applied phase %s's fault", ph.Name)
		}
	}
	notes := strings.Join(rep.Notes, "\n")
	for _, want := range []string{"segment 1/2:1 of the sequence 0,1/2,1", "this runner followed the phases", "no shared start", "flagstorm merge times the recovery"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes do not say %q:\n%s", want, notes)
		}
	}
	// Its share of the striped arrivals: 20 of 40.
	var reqs float64
	for _, r := range out.Judgement.Summary.Results {
		if r.Threshold.Metric == "http_reqs" {
			reqs = r.Observed
		}
	}
	if reqs != 20 {
		t.Errorf("the follower of 1/2:1 sent %v requests, want 20 of the plan's 40", reqs)
	}
}

// fakeRendezvous answers Await with a start a little ahead, or an error.
type fakeRendezvous struct {
	start rendezvous.Start
	err   error
}

func (f *fakeRendezvous) Await(context.Context) (rendezvous.Start, error) {
	if f.err != nil {
		return rendezvous.Start{}, f.err
	}
	f.start.At = time.Now().Add(100 * time.Millisecond)
	f.start.Leader = f.start.At.Round(0)
	return f.start, nil
}

// The load starts at the agreed instant, exactly: it is the run's time
// zero. A runner the leader refused is an input error; runners missing
// at the timeout, an infrastructure one.
func TestSharedStartIsTimeZero(t *testing.T) {
	p := faultPlan(t)
	url := stubTarget(t)
	rv := &fakeRendezvous{start: rendezvous.Start{Segment: "1/2:1", Runners: 2, Addr: "127.0.0.1:1", Skew: rendezvous.Skew{Exchanges: 8}}}
	out, err := Execute(t.Context(), p, Remote{URLs: []string{url}}, Options{Segment: half(t, "1/2:1"), Rendezvous: rv})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Report.Start.Equal(rv.start.At) {
		t.Errorf("the load started at %s, the rendezvous agreed on %s", out.Report.Start, rv.start.At)
	}
	if !slices.ContainsFunc(out.Report.Notes, func(n string) bool { return strings.Contains(n, "followed the leader at 127.0.0.1:1") }) {
		t.Errorf("no shared start in the notes: %q", out.Report.Notes)
	}

	refused := &fakeRendezvous{err: &rendezvous.RefusedError{Leader: "127.0.0.1:1", Reason: "it runs another scenario"}}
	var invalid *InvalidError
	if _, err := Execute(t.Context(), p, Remote{URLs: []string{url}}, Options{Segment: half(t, "1/2:1"), Rendezvous: refused}); !errors.As(err, &invalid) {
		t.Errorf("refused: err %v, want an *InvalidError", err)
	}
	missing := &fakeRendezvous{err: &rendezvous.MissingError{Leader: "127.0.0.1:1", Segments: []string{"0:1/2"}, Waited: time.Second}}
	_, err = Execute(t.Context(), p, Remote{URLs: []string{url}}, Options{Segment: half(t, "1/2:1"), Rendezvous: missing})
	var me *rendezvous.MissingError
	if !errors.As(err, &me) || errors.As(err, &invalid) {
		t.Errorf("missing: err %v, want the *MissingError itself (exit 4)", err)
	}
}
