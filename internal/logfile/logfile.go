// Package logfile reads the log files of the processes our tests and the
// local stack start (redis-server, PostgreSQL, flagserver): how far a log
// has grown, what it gained since, and its end for an error message about
// a process that failed.
package logfile

import (
	"fmt"
	"io"
	"os"
)

// Size is the file's length, or 0 when it cannot be read: a log that does
// not exist yet has written nothing.
func Size(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// From returns what the file holds from offset on, or "" when it cannot
// be read or is shorter than offset (truncated, or another file).
func From(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset || offset < 0 {
		return ""
	}
	return string(b[offset:])
}

// Tail returns at most the last n bytes of the file. It never fails: what
// went wrong reading it is said in parentheses instead, as is an empty
// log, so that it can stand in any error message.
func Tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	off := max(st.Size()-max(n, 0), 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	if len(b) == 0 {
		return "(log is empty)"
	}
	return string(b)
}
