package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flagstorm/flagstorm/harness/internal/run"
)

const mergeSummary = "merge the raw results of runners that each ran a segment of one scenario (run --segment), and judge the whole run"

// runMerge merges runners' raw results (run --out writes raw.json.gz)
// and judges them as one run: the same summary, reports and exit code as
// flagstorm run.
func runMerge(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("merge", e)
	var out string
	fs.StringVar(&out, "out", "", "directory for the merged run's summary.json, junit.xml and report.html")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, `Usage: flagstorm merge DIR... [--out DIR]

Merges the raw results of the runners of one run, each of which ran a segment of the
scenario (flagstorm run FILE --segment FROM:TO --out DIR writes raw.json.gz beside its
reports), and judges the whole run with the scenario's thresholds, phase-scoped ones
included: the same summary, summary.json, junit.xml, report.html and exit code as one
flagstorm run of the whole load.

Each DIR is a runner's --out directory (holding raw.json.gz), or a directory whose
subdirectories are (runs/0, runs/1, ...; hidden ones and the --out directory are skipped).
Before merging, merge checks that the runners' segments cover 0 to 1 exactly once, that
they ran the same scenario file (by content) with the same histogram layout and segment
sequence, and that every raw file is there and readable; any problem exits 2 naming the
directory and the gap ("no runner covers 1/2:3/4", "runs/2: raw.json.gz missing").

Histograms merge exactly (HdrHistogram), counters and rates add, the per-second data adds
second by second and the recovery time is timed again from it; times are put on the clock
of the runner whose segment starts at 0 (it owns the fault timeline) by each runner's
measured clock offset. The oracle judges every runner's reads against the writes of all;
a runner that kept no reads, or had no oracle, makes the oracle's thresholds inconclusive.
`+exitCodesLine+`

Flags:`)
		fs.PrintDefaults()
	}
	dirs, args := leadingArgs(args)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	dirs = append(dirs, fs.Args()...)
	if len(dirs) == 0 {
		return usageError("merge needs the runners' directories: flagstorm merge DIR... --out DIR")
	}
	runners, err := run.ReadRunners(dirs, out)
	if err != nil {
		return err
	}
	o := run.Options{Stdout: e.stdout, Stderr: e.stderr, Color: isTerminal(e.stdout), Out: out}
	merged, err := run.Merge(ctx, runners, o)
	if err != nil {
		return err
	}
	return outcome(ctx, merged.Report.Verdict)
}

// leadingArgs takes the positional arguments written before the flags
// (a copy: the caller appends to it).
func leadingArgs(args []string) (pos, rest []string) {
	i := slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, "-") })
	if i < 0 {
		i = len(args)
	}
	return slices.Clone(args[:i]), args[i:]
}
