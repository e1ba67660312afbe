package benchkit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Main is a benchmark program's main: it calls run with the command line
// and the standard streams, under a context that SIGINT and SIGTERM
// cancel, and exits with the status run returns.
func Main(run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// UsageError is a bad command line or a missing tool: exit status 2, its
// message printed as it is.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// FlagProblems collects what is wrong with a parsed command line, so that
// one UsageError reports all of it at once.
type FlagProblems struct {
	prog string
	list []string
}

// ParseFlags parses args with fs. -h gives flag.ErrHelp as it is; a flag
// that does not parse is a UsageError prefixed with fs's name. What the
// caller then finds wrong goes into the FlagProblems returned, which
// starts with unexpected positional arguments.
func ParseFlags(fs *flag.FlagSet, args []string) (*FlagProblems, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, UsageError{Msg: fs.Name() + ": " + err.Error()}
	}
	p := &FlagProblems{prog: fs.Name()}
	if fs.NArg() > 0 {
		p.Addf("unexpected arguments %q", fs.Args())
	}
	return p, nil
}

// Addf adds a problem.
func (p *FlagProblems) Addf(format string, a ...any) {
	p.list = append(p.list, fmt.Sprintf(format, a...))
}

// WholeSeconds wants the duration d of flag -name to be whole seconds,
// at least 1 s.
func (p *FlagProblems) WholeSeconds(name string, d time.Duration) {
	if d < time.Second || d%time.Second != 0 {
		p.Addf("-%s: want whole seconds, at least 1s, got %v", name, d)
	}
}

// AtLeastOne wants n, the value of flag -name, to be at least 1.
func (p *FlagProblems) AtLeastOne(name string, n int) {
	if n < 1 {
		p.Addf("-%s: want at least 1, got %d", name, n)
	}
}

// Threads wants 1 <= threads <= connections (wrk refuses fewer
// connections than threads).
func (p *FlagProblems) Threads(threads, connections int) {
	if threads < 1 || connections < threads {
		p.Addf("-threads %d -connections %d: want 1 <= threads <= connections", threads, connections)
	}
}

// Err is nil without problems, and otherwise a UsageError naming the
// program and listing them all.
func (p *FlagProblems) Err() error {
	if len(p.list) == 0 {
		return nil
	}
	return UsageError{Msg: p.prog + ": " + strings.Join(p.list, "; ")}
}

// ExitStatus says on stderr what went wrong and returns the exit status:
// 0 for nil, 2 for a [UsageError], 1 for anything else (prefixed with
// prog).
func ExitStatus(stderr io.Writer, prog string, err error) int {
	var ue UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, ue.Msg)
		return 2
	default:
		fmt.Fprintln(stderr, prog+":", err)
		return 1
	}
}

// Mode reports whether args (a program's arguments, args[0] its name)
// start with the hidden mode flag name, like "-serve" or "-serve=hello".
func Mode(args []string, name string) bool {
	return len(args) > 1 && (args[1] == name || strings.HasPrefix(args[1], name+"="))
}

// Publish writes the Markdown report that markdown produces to stdout and
// file ([WriteReport]); with strict, a failed goal among vs is then an
// error.
func Publish(stdout io.Writer, file string, markdown func(io.Writer), strict bool, vs []Verdict) error {
	if err := WriteReport(stdout, file, markdown); err != nil {
		return err
	}
	if strict && !Passed(vs) {
		return errors.New("a goal failed (-strict)")
	}
	return nil
}

// CommandLine is how a benchmark was started, for its report. Under
// "go run" the program is a temporary binary; the report names pkg (like
// "./target/cmd/benchtarget") instead.
func CommandLine(args []string, pkg string) string {
	prog := args[0]
	if strings.Contains(prog, "go-build") {
		prog = "go run " + pkg
	}
	return strings.Join(append([]string{prog}, args[1:]...), " ")
}
