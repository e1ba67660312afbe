package benchkit

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// UsageError is a bad command line or a missing tool: exit status 2, its
// message printed as it is.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

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
// "./target/internal/benchtarget") instead.
func CommandLine(args []string, pkg string) string {
	prog := args[0]
	if strings.Contains(prog, "go-build") {
		prog = "go run " + pkg
	}
	return strings.Join(append([]string{prog}, args[1:]...), " ")
}
