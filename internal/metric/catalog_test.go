package metric

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// handles lists every handle variable with what it must describe; the
// test below checks that the catalog is exactly these.
var handles = []struct {
	h    interface{ Desc() Desc }
	name string
	kind Kind
	unit Unit
}{
	{HTTPReqs, "http_reqs", KindCounter, UnitNone},
	{HTTPReqDuration, "http_req_duration", KindTrend, UnitMilliseconds},
	{HTTPReqWaiting, "http_req_waiting", KindTrend, UnitMilliseconds},
	{HTTPReqServiceTime, "http_req_service_time", KindTrend, UnitMilliseconds},
	{HTTPReqFailed, "http_req_failed", KindRate, UnitNone},
	{Checks, "checks", KindRate, UnitNone},
	{Iterations, "iterations", KindCounter, UnitNone},
	{DroppedIterations, "dropped_iterations", KindCounter, UnitNone},
	{LateIterations, "late_iterations", KindCounter, UnitNone},
	{VUs, "vus", KindGauge, UnitNone},
	{VUsMax, "vus_max", KindGauge, UnitNone},
	{StaleReads, "stale_reads", KindCounter, UnitNone},
	{Staleness, "staleness_seconds", KindTrend, UnitSeconds},
	{LostWrites, "lost_writes", KindCounter, UnitNone},
	{RecoveryTime, "recovery_time", KindGauge, UnitSeconds},
	{DataReceived, "data_received", KindCounter, UnitBytes},
	{DataSent, "data_sent", KindCounter, UnitBytes},
	{TargetReadyTime, "target_ready_time", KindGauge, UnitMilliseconds},
	{NonMonotonicReads, "nonmonotonic_reads", KindCounter, UnitNone},
}

func TestHandles(t *testing.T) {
	var names []string
	for _, tt := range handles {
		d := tt.h.Desc()
		names = append(names, d.Name)
		if d.Name != tt.name || d.Kind != tt.kind || d.Unit != tt.unit {
			t.Errorf("%s: %s in %q, want %s %s in %q", d.Name, d.Kind, d.Unit, tt.name, tt.kind, tt.unit)
		}
		if got, ok := Lookup(tt.name); !ok || got != d {
			t.Errorf("Lookup(%q) = %+v, %v; want the handle's %+v", tt.name, got, ok, d)
		}
	}
	if diff := cmp.Diff(names, Names()); diff != "" {
		t.Errorf("catalog is not exactly the handles, in order (-handles +catalog):\n%s", diff)
	}
}

// TestCatalogLint checks every entry: a valid, unique name, a kind, a
// unit that suits it, a doc line and an example of its kind.
func TestCatalogLint(t *testing.T) {
	examples := map[Kind][]string{
		KindCounter: {"count", "rate"}, KindGauge: {"value", "min", "max"},
		KindRate: {"rate"}, KindTrend: {"avg", "min", "max", "med", "p("},
	}
	seen := map[string]bool{}
	for _, d := range All() {
		if msg := checkName(d.Name, false); msg != "" {
			t.Errorf("%s: %s", d.Name, msg)
		}
		if seen[d.Name] {
			t.Errorf("%s is in the catalog twice", d.Name)
		}
		seen[d.Name] = true
		if d.Kind < KindCounter || d.Kind > KindTrend {
			t.Errorf("%s: kind %v", d.Name, d.Kind)
		}
		if _, err := ParseUnit(d.Unit.String()); err != nil {
			t.Errorf("%s: unit %v", d.Name, d.Unit)
		}
		if d.Kind == KindTrend && !d.Unit.IsTime() {
			t.Errorf("%s: a trend that is not of time has no handle type", d.Name)
		}
		if d.Kind == KindRate && d.Unit != UnitNone {
			t.Errorf("%s: a rate is a fraction, not %q", d.Name, d.Unit)
		}
		if strings.HasSuffix(d.Name, "_seconds") && d.Unit != UnitSeconds {
			t.Errorf("%s is named in seconds but measured in %q", d.Name, d.Unit)
		}
		if d.Doc == "" || strings.Contains(d.Doc, "\n") {
			t.Errorf("%s: doc %q is not one line", d.Name, d.Doc)
		}
		if !slices.ContainsFunc(examples[d.Kind], func(agg string) bool { return strings.HasPrefix(d.Example, agg) }) {
			t.Errorf("%s: example %q is not an aggregation of a %s", d.Name, d.Example, d.Kind)
		}
	}
	if _, ok := Lookup("http_req_durations"); ok {
		t.Error("Lookup found an unknown metric")
	}
	all := All()
	all[0].Name = "changed"
	if All()[0].Name == "changed" || Names()[0] == "changed" {
		t.Error("All shares the catalog")
	}
}

func TestTagsAndSources(t *testing.T) {
	if diff := cmp.Diff([]string{"scenario", "name", "method", "status", "phase", "source"}, TagNames()); diff != "" {
		t.Errorf("TagNames (-want +got):\n%s", diff)
	}
	for _, n := range TagNames() {
		if msg := checkName(n, true); msg != "" || !IsTag(n) {
			t.Errorf("tag %q: %s", n, msg)
		}
	}
	if IsTag("url") {
		t.Error("url is not a tag")
	}
	if diff := cmp.Diff([]string{"redis", "db", "db-fallback", "memory", "stale"}, Sources()); diff != "" {
		t.Errorf("Sources (-want +got):\n%s", diff)
	}
	TagNames()[0], Sources()[0] = "x", "x"
	if TagNames()[0] != "scenario" || Sources()[0] != "redis" {
		t.Error("TagNames or Sources share their slice")
	}
}

func TestZeroHandle(t *testing.T) {
	if (Counter{}).Name() != "" || (Trend{}).Desc() != (Desc{}) {
		t.Error("a zero handle names a metric")
	}
}
