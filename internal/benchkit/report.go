package benchkit

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Setup is what every report's setup table starts with: how the benchmark
// was invoked, when, and on what machine.
type Setup struct {
	Command   string
	Date      time.Time // UTC
	NProc     int
	CPU       string // model name
	RAM       string // like "15.6 GiB"
	GoVersion string // the benchmark's
}

// NewSetup describes this invocation and machine now.
func NewSetup(command string) Setup {
	return Setup{
		Command:   command,
		Date:      time.Now().UTC(),
		NProc:     runtime.NumCPU(),
		CPU:       cpuModel(),
		RAM:       memTotal(),
		GoVersion: runtime.Version(),
	}
}

// WriteHead writes the "### Setup" heading and the setup table's header
// and first rows (command, date, machine); the caller adds its own rows.
func (s Setup) WriteHead(w io.Writer) {
	fmt.Fprintf(w, "### Setup\n\n| | |\n|---|---|\n")
	fmt.Fprintf(w, "| command | `%s` |\n", s.Command)
	fmt.Fprintf(w, "| date | %s |\n", s.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "| machine | nproc %d, %s, %s RAM |\n", s.NProc, s.CPU, s.RAM)
}

// Verdict is one goal's outcome.
type Verdict struct {
	Goal string // what was wanted, like "flag-memory p95 ≤ 2.00 ms"
	Pass bool
	Got  string // what was measured
}

// Passed reports whether every goal passed (true when there is none).
func Passed(vs []Verdict) bool {
	for _, v := range vs {
		if !v.Pass {
			return false
		}
	}
	return true
}

// WriteGoals writes the "### Goals" section: a table of the verdicts, or
// a sentence when no goal applies.
func WriteGoals(w io.Writer, vs []Verdict) {
	fmt.Fprintf(w, "### Goals\n\n")
	if len(vs) == 0 {
		fmt.Fprintln(w, "No goal applies to the parts run.")
		return
	}
	fmt.Fprintf(w, "| goal | verdict | measured |\n|---|---|---|\n")
	for _, v := range vs {
		verdict := "FAIL"
		if v.Pass {
			verdict = "PASS"
		}
		fmt.Fprintf(w, "| %s | **%s** | %s |\n", v.Goal, verdict, v.Got)
	}
}

// WriteReport writes the Markdown report that markdown produces to stdout
// and, if file is set, to file.
func WriteReport(stdout io.Writer, file string, markdown func(io.Writer)) error {
	var b bytes.Buffer
	markdown(&b)
	if _, err := stdout.Write(b.Bytes()); err != nil {
		return err
	}
	if file != "" {
		if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("-markdown: %w", err)
		}
	}
	return nil
}

// Run is one measured run as the report tables see it.
type Run interface {
	RPS() float64
	Valid() bool
	Problem() string
}

// Rounds is a table's "req/s by round" cell, like "27000 · ~~99000~~ ·
// 28000" (an invalid run struck through), and why each invalid run does
// not count, like "round 2: 3 failed requests".
func Rounds[R Run](runs []R) (cell string, invalid []string) {
	var rounds []string
	for i, r := range runs {
		s := fmt.Sprintf("%.0f", r.RPS())
		if !r.Valid() {
			s = "~~" + s + "~~"
			invalid = append(invalid, fmt.Sprintf("round %d: %s", i+1, r.Problem()))
		}
		rounds = append(rounds, s)
	}
	return strings.Join(rounds, " · "), invalid
}

// WriteInvalid lists the invalid runs under a table (nothing when there
// is none); p prints one line.
func WriteInvalid(p func(format string, a ...any), invalid []string) {
	if len(invalid) == 0 {
		return
	}
	p("")
	p("Invalid runs (struck through, left out of the medians):")
	for _, s := range invalid {
		p("- %s", s)
	}
}

// RPSRatio is the ratio of two sets of runs' median req/s over their
// valid runs; false when either has none or the denominator's is 0.
func RPSRatio[R Run](num, den []R) (float64, bool) {
	a, ok1 := MedianOf(num, R.RPS)
	b, ok2 := MedianOf(den, R.RPS)
	if !ok1 || !ok2 || b == 0 {
		return 0, false
	}
	return a / b, true
}

// Median of xs; false when xs is empty.
func Median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2], true
	}
	return (xs[n/2-1] + xs[n/2]) / 2, true
}

// MedianOf is the median of f over the valid runs; false when there is
// none.
func MedianOf[R interface{ Valid() bool }](runs []R, f func(R) float64) (float64, bool) {
	var xs []float64
	for _, r := range runs {
		if r.Valid() {
			xs = append(xs, f(r))
		}
	}
	return Median(xs)
}

// Ms formats d in milliseconds, like "1.25 ms".
func Ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// MiB formats b bytes in mebibytes, like "20.5 MiB".
func MiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// DescribeBinary names a Go binary with the Go version and the commit it
// was built from (when the build recorded them); just the path when it
// cannot be read.
func DescribeBinary(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return path
	}
	desc := fmt.Sprintf("%s (%s", path, bi.GoVersion)
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		desc += ", commit " + rev[:min(len(rev), 12)]
		if modified == "true" {
			desc += " + uncommitted changes"
		}
	}
	return desc + ")"
}
