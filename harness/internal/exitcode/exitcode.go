// Package exitcode is the one table of the flagstorm binary's exit codes,
// for every command (run, suite, validate, stack, gate, ...). The CLI
// decides a process's code from it in one place; the reports write the
// code a run's verdict maps to.
//
// k6 exits 99 when a threshold fails; flagstorm keeps 1, which shells and
// CI systems read as an ordinary failure.
package exitcode

// The codes.
const (
	OK           = 0   // every threshold passed; the gate says go
	Failed       = 1   // a threshold failed; the gate says no-go
	Usage        = 2   // invalid usage or input (flags, scenario file, target description)
	Inconclusive = 3   // not enough evidence to judge: no data, a check that could not run
	Infra        = 4   // could not evaluate: a component would not start, Prometheus unreachable
	Interrupted  = 130 // interrupted (Ctrl-C, SIGTERM), after cleanup
)

// Verdicts a run or a gate check ends with; the reports write them.
const (
	VerdictPass         = "pass"
	VerdictFail         = "fail"
	VerdictInconclusive = "inconclusive"
	VerdictInterrupted  = "interrupted"
)

// Of is the exit code of a verdict; an unknown verdict could not be
// evaluated.
func Of(verdict string) int {
	switch verdict {
	case VerdictPass:
		return OK
	case VerdictFail:
		return Failed
	case VerdictInconclusive:
		return Inconclusive
	case VerdictInterrupted:
		return Interrupted
	}
	return Infra
}

// Worst is the code of several verdicts together (a suite, a run of two
// profiles): interrupted, else failed (a finding stands whatever else
// happened), else could not evaluate (an unknown verdict, such as a run
// that could not start), else inconclusive, else pass.
func Worst(verdicts ...string) int {
	rank := map[int]int{OK: 0, Inconclusive: 1, Infra: 2, Failed: 3, Interrupted: 4}
	code := OK
	for _, v := range verdicts {
		if c := Of(v); rank[c] > rank[code] {
			code = c
		}
	}
	return code
}
