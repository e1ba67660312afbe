package report

import (
	"bytes"
	"encoding/json"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/verdict"
)

// partialRun is a run interrupted in its outage phase whose thresholds all
// passed on what was recorded, and whose verdict a careless caller left
// "pass": every format must still say partial, give the reason, and call
// the run interrupted, never passed.
func partialRun(t *testing.T) Run {
	t.Helper()
	r := outageRun(t)
	var passed []verdict.Result
	for _, res := range r.Thresholds.Results {
		if res.Verdict() == verdict.Pass {
			passed = append(passed, res)
		}
	}
	if len(passed) == 0 {
		t.Fatal("the fixture has no passing threshold")
	}
	r.Thresholds = verdict.Tally(passed)
	r.Verdict, r.ExitCode, r.Abort = VerdictPass, 130, ""
	r.Duration = 25300 * time.Millisecond
	r.Partial = true
	r.PartialReason = "interrupted in phase outage at t=25.3s of 1m0s planned (hangup signal received)"
	return r
}

func TestPartialRunInEveryFormat(t *testing.T) {
	r := partialRun(t)
	reason := r.PartialReason

	t.Run("summary.json", func(t *testing.T) {
		var doc struct {
			Flagstorm struct {
				Partial       bool   `json:"partial"`
				PartialReason string `json:"partialReason"`
				Verdict       string `json:"verdict"`
				ExitCode      int    `json:"exitCode"`
				Thresholds    []struct {
					Verdict  string   `json:"verdict"`
					Observed *float64 `json:"observed"`
				} `json:"thresholds"`
			} `json:"flagstorm"`
		}
		if err := json.Unmarshal(write(t, func(b *bytes.Buffer) error { return WriteJSON(b, r) }), &doc); err != nil {
			t.Fatal(err)
		}
		f := doc.Flagstorm
		if !f.Partial || f.PartialReason != reason || f.Verdict != VerdictInterrupted || f.ExitCode != 130 {
			t.Errorf("partial=%v reason=%q verdict=%q exit=%d; want true, %q, interrupted, 130", f.Partial, f.PartialReason, f.Verdict, f.ExitCode, reason)
		}
		for _, th := range f.Thresholds {
			if th.Verdict != "pass" || th.Observed == nil {
				t.Errorf("threshold %+v: want it as measured (pass, with its value)", th)
			}
		}
	})
	t.Run("junit.xml", func(t *testing.T) {
		doc := parseJUnit(t, write(t, func(b *bytes.Buffer) error { return WriteJUnit(b, r) }))
		s := doc.Suites[0]
		props := map[string]string{}
		for _, p := range s.Properties {
			props[p.Name] = p.Value
		}
		if props["partial"] != "true" || props["partialReason"] != reason || props["verdict"] != VerdictInterrupted {
			t.Errorf("properties %v: want partial=true, the reason and verdict interrupted", props)
		}
		if s.Errors != 1 {
			t.Fatalf("%d errors, want the run's own test case failed", s.Errors)
		}
		last := s.Cases[len(s.Cases)-1]
		if last.Error == nil || !strings.Contains(last.Error.Message, "partial report: "+reason) {
			t.Errorf("the run's test case is %+v, want an error naming the partial report and its reason", last)
		}
	})
	t.Run("report.html", func(t *testing.T) {
		page := html.UnescapeString(string(write(t, func(b *bytes.Buffer) error { return WriteHTML(b, r) })))
		for _, want := range []string{"Partial report: " + reason, "INTERRUPTED · PARTIAL", "INTERRUPTED after 25.3s (partial report: " + reason + ")"} {
			if !strings.Contains(page, want) {
				t.Errorf("report.html lacks %q", want)
			}
		}
		if !strings.Contains(page, `<span class="badge warn">`) {
			t.Error("report.html does not badge the run as not passed (warn)")
		}
	})
	t.Run("summary", func(t *testing.T) {
		out := string(write(t, func(b *bytes.Buffer) error { return WriteSummary(b, r, SummaryOptions{}) }))
		for _, want := range []string{"report    PARTIAL: " + reason, "INTERRUPTED after 25.3s (partial report: " + reason + "): thresholds judged on partial data"} {
			if !strings.Contains(out, want) {
				t.Errorf("summary lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "PASS:") {
			t.Errorf("summary calls a partial run a pass:\n%s", out)
		}
	})
}
