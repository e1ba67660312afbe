package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/verdict"
)

// WriteJUnit writes junit.xml for CI: a <testsuites> with one
// <testsuite name="flagstorm: <scenario>"> holding one <testcase> per
// threshold, named "<submetric> <expr>" with the scenario as classname.
//
//   - A passed threshold is a plain testcase.
//   - A failed one has <failure type="threshold" message="observed
//     812.00ms, limit 50ms"> with the details (condition, phase, fault,
//     key as written) as its text.
//   - A threshold without data has <skipped message="no data: ...">.
//     It was not judged, which is what skipped means to CI tools (GitLab,
//     Jenkins, GitHub test reporters show it apart from failures). The
//     run is still inconclusive: the CLI exits 3 and the suite's
//     "verdict" property says so; a pipeline fails on the exit code.
//   - An aborted or interrupted run adds a testcase "run completed" with
//     an <error>: the run itself did not finish, which no threshold says.
//
// A testcase's time is the span its threshold judged: the phase's
// planned length for a {phase:...} submetric, else the run's duration.
// The suite's time is the run's duration and its timestamp the start.
// Run properties (profile, target, verdict, exit code) are <property>s
// and the notes are the suite's <system-out>.
func WriteJUnit(w io.Writer, r Run) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites(r)); err != nil {
		return fmt.Errorf("report: write junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// JUnit document types; exported fields only so encoding/xml sees them,
// unexported types so they are not API.
type junitTestsuites struct {
	XMLName xml.Name `xml:"testsuites"`
	Name    string   `xml:"name,attr"`
	junitCounts
	Suites []junitTestsuite `xml:"testsuite"`
}

// junitCounts are the attributes a suite and the document both carry.
type junitCounts struct {
	Tests    int    `xml:"tests,attr"`
	Failures int    `xml:"failures,attr"`
	Errors   int    `xml:"errors,attr"`
	Skipped  int    `xml:"skipped,attr"`
	Time     string `xml:"time,attr"`
}

type junitTestsuite struct {
	Name string `xml:"name,attr"`
	junitCounts
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitTestcase `xml:"testcase"`
	SystemOut  *junitText      `xml:"system-out"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestcase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	Skipped   *junitSkipped `xml:"skipped"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

// junitText is an element whose text is CDATA, so that line breaks and
// quotes stay readable in the file.
type junitText struct {
	Text string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

func junitSuites(r Run) junitTestsuites {
	s := junitTestsuite{Name: "flagstorm: " + r.Scenario, junitCounts: junitCounts{Time: seconds(r.Duration)}}
	if len(r.Notes) > 0 {
		s.SystemOut = &junitText{xmlChars(strings.Join(r.Notes, "\n"))}
	}
	if !r.Start.IsZero() {
		s.Timestamp = r.Start.UTC().Format("2006-01-02T15:04:05")
	}
	prop := func(name, value string) {
		if value != "" {
			s.Properties = append(s.Properties, junitProperty{name, value})
		}
	}
	prop("scenario", r.Scenario)
	prop("description", r.Description)
	prop("profile", r.Profile)
	prop("target", r.TargetURL)
	prop("verdict", r.verdict())
	prop("exitCode", strconv.Itoa(r.ExitCode))
	prop("abort", r.Abort)
	if r.Partial {
		prop("partial", "true")
		prop("partialReason", r.PartialReason)
	}

	for _, res := range r.Thresholds.Results {
		t := res.Threshold
		span := r.Duration
		if p, ok := r.phaseOf(t); ok {
			span = p.End - p.Start
		}
		c := junitTestcase{Classname: r.Scenario, Name: t.String(), Time: seconds(span)}
		switch res.Verdict() {
		case verdict.Fail:
			c.Failure = &junitProblem{
				Message: "observed " + observed(res) + ", limit " + limit(t),
				Type:    "threshold",
				Text:    xmlChars(thresholdDetails(r, res)),
			}
			s.Failures++
		case verdict.NoData:
			msg := "no data: no samples of " + t.Submetric() + " to judge (the run is inconclusive)"
			if res.Reason != "" {
				msg = "inconclusive: " + res.Reason
			}
			c.Skipped = &junitSkipped{Message: xmlChars(msg)}
			s.Skipped++
		}
		s.Cases = append(s.Cases, c)
	}
	if msg, kind, ok := runProblem(r); ok {
		s.Cases = append(s.Cases, junitTestcase{
			Classname: r.Scenario, Name: "run completed", Time: seconds(r.Duration),
			Error: &junitProblem{Message: msg, Type: kind, Text: xmlChars(verdictLine(r))},
		})
		s.Errors++
	}
	s.Tests = len(s.Cases)
	return junitTestsuites{Name: "flagstorm", junitCounts: s.junitCounts, Suites: []junitTestsuite{s}}
}

// runProblem says why the run did not complete, if it did not.
func runProblem(r Run) (msg, kind string, ok bool) {
	switch {
	case r.Abort != "":
		return "aborted: " + r.Abort, "aborted", true
	case r.Partial && r.PartialReason != "":
		return "partial report: " + r.PartialReason + "; thresholds were judged on partial data", "interrupted", true
	case r.verdict() == VerdictInterrupted:
		return "interrupted after " + fmtOffset(r.Duration) + "; thresholds were judged on partial data", "interrupted", true
	}
	return "", "", false
}

// thresholdDetails is the text of a failure: everything needed to read it
// without the HTML report.
func thresholdDetails(r Run, res verdict.Result) string {
	t := res.Threshold
	var b strings.Builder
	fmt.Fprintf(&b, "%s failed\n", t)
	fmt.Fprintf(&b, "observed: %s (%s of %s)\n", observed(res), t.Expr.Agg, t.Submetric())
	fmt.Fprintf(&b, "limit:    %s\n", condition(t))
	if p, ok := r.phaseOf(t); ok {
		fmt.Fprintf(&b, "phase:    %s, %s to %s", p.Name, fmtOffset(p.Start), fmtOffset(p.End))
		if p.Fault != "" {
			fmt.Fprintf(&b, ", fault: %s", p.Fault)
		}
		b.WriteByte('\n')
	}
	if t.Key != t.Submetric() {
		fmt.Fprintf(&b, "key:      %q as written in the scenario\n", t.Key)
	}
	if t.AbortOnFail {
		b.WriteString("abortOnFail: true\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// xmlChars replaces what XML 1.0 cannot hold (most control characters,
// invalid UTF-8) with U+FFFD. encoding/xml does so for attributes and
// character data but writes CDATA as it is. Invalid UTF-8 reaches the
// mapping as U+FFFD already.
func xmlChars(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r',
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, s)
}
