package benchkit

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		want       int
		wantStderr string
	}{
		{"done", nil, 0, ""},
		{"usage", UsageError{Msg: "benchtarget: -rounds: want at least 1, got 0"}, 2, "benchtarget: -rounds: want at least 1, got 0\n"},
		{"wrapped usage", fmt.Errorf("bench: %w", UsageError{Msg: "install wrk"}), 2, "install wrk\n"},
		{"failure", errors.New("round 1, hello: wrk exited"), 1, "benchtarget: round 1, hello: wrk exited\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := ExitStatus(&stderr, "benchtarget", tt.err); got != tt.want || stderr.String() != tt.wantStderr {
				t.Errorf("ExitStatus = %d, stderr %q; want %d, %q", got, stderr.String(), tt.want, tt.wantStderr)
			}
		})
	}
}

func TestMode(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"benchengine", "-serve", "-addr", "x"}, true},
		{[]string{"benchtarget", "-serve=hello"}, true},
		{[]string{"benchengine", "-server"}, false},
		{[]string{"benchengine", "-rounds", "1", "-serve"}, false},
		{[]string{"benchengine"}, false},
	}
	for _, tt := range tests {
		if got := Mode(tt.args, "-serve"); got != tt.want {
			t.Errorf("Mode(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func TestPublish(t *testing.T) {
	markdown := func(w io.Writer) { _, _ = io.WriteString(w, "### Goals\n") }
	failed := []Verdict{{Goal: "a", Pass: true}, {Goal: "b"}}
	tests := []struct {
		name    string
		strict  bool
		vs      []Verdict
		wantErr string
	}{
		{"failed goal, not strict", false, failed, ""},
		{"failed goal, strict", true, failed, "a goal failed (-strict)"},
		{"goals passed, strict", true, failed[:1], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			file := filepath.Join(t.TempDir(), "report.md")
			err := Publish(&stdout, file, markdown, tt.strict, tt.vs)
			if (err == nil) != (tt.wantErr == "") || err != nil && err.Error() != tt.wantErr {
				t.Errorf("Publish = %v, want error %q", err, tt.wantErr)
			}
			// The report is written whatever the verdicts.
			b, rerr := os.ReadFile(file)
			if rerr != nil || string(b) != "### Goals\n" || stdout.String() != "### Goals\n" {
				t.Errorf("stdout %q, file %q (%v); want the report in both", stdout.String(), b, rerr)
			}
		})
	}
	if err := Publish(io.Discard, filepath.Join(t.TempDir(), "missing", "r.md"), markdown, true, failed); err == nil ||
		!strings.HasPrefix(err.Error(), "-markdown: ") {
		t.Errorf("Publish to an unwritable file = %v, want the write error first", err)
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"built binary", []string{"bin/benchtarget", "-rounds", "1"}, "bin/benchtarget -rounds 1"},
		{"go run", []string{"/tmp/go-build123/b001/exe/benchtarget", "-pin"}, "go run ./target/cmd/benchtarget -pin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CommandLine(tt.args, "./target/cmd/benchtarget"); got != tt.want {
				t.Errorf("CommandLine = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	parse := func(args ...string) (*FlagProblems, error) {
		fs := flag.NewFlagSet("benchtarget", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Int("rounds", 3, "rounds")
		return ParseFlags(fs, args)
	}
	if _, err := parse("-h"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
	_, err := parse("-rounds", "x")
	var ue UsageError
	if !errors.As(err, &ue) || !strings.HasPrefix(ue.Msg, `benchtarget: invalid value "x" for flag -rounds`) {
		t.Errorf("bad value: %v, want a UsageError naming the program", err)
	}
	p, err := parse("-rounds", "1")
	if err != nil || p.Err() != nil {
		t.Fatalf("good command line: %v, %v", err, p.Err())
	}

	p, err = parse("now", "please")
	if err != nil {
		t.Fatal(err)
	}
	p.WholeSeconds("duration", 1500*time.Millisecond)
	p.WholeSeconds("memory-short", 0)
	p.WholeSeconds("accuracy-duration", 2*time.Second) // fine
	p.Threads(4, 2)
	p.Threads(0, 2)
	p.Threads(2, 2) // fine
	p.AtLeastOne("rounds", 0)
	p.AtLeastOne("memory-rate", 1) // fine
	p.Addf("-pin needs at least %d CPUs", 2)
	want := `benchtarget: unexpected arguments ["now" "please"]; ` +
		"-duration: want whole seconds, at least 1s, got 1.5s; -memory-short: want whole seconds, at least 1s, got 0s; " +
		"-threads 4 -connections 2: want 1 <= threads <= connections; -threads 0 -connections 2: want 1 <= threads <= connections; " +
		"-rounds: want at least 1, got 0; -pin needs at least 2 CPUs"
	if !errors.As(p.Err(), &ue) || ue.Msg != want {
		t.Errorf("Err() = %v\nwant %s", p.Err(), want)
	}
}
