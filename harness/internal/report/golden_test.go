package report

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (-want +got; go test ./harness/internal/report -update rewrites it):\n%s",
			name, cmp.Diff(string(want), string(got)))
	}
}

func TestGolden(t *testing.T) {
	run := outageRun(t)
	writers := []struct {
		file  string
		write func(io.Writer, Run) error
	}{
		{"summary.txt", func(w io.Writer, r Run) error { return WriteSummary(w, r, SummaryOptions{Width: 100}) }},
		{"summary-color.txt", func(w io.Writer, r Run) error { return WriteSummary(w, r, SummaryOptions{Color: true, Width: 100}) }},
		{"summary.json", WriteJSON},
		{"junit.xml", WriteJUnit},
		{"report.html", WriteHTML},
	}
	for _, wr := range writers {
		t.Run(wr.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := wr.write(&b, run); err != nil {
				t.Fatal(err)
			}
			golden(t, wr.file, b.Bytes())
			// Writing twice gives the same bytes: no map order leaks.
			var again bytes.Buffer
			if err := wr.write(&again, run); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), again.Bytes()) {
				t.Error("two writes of the same run differ")
			}
		})
	}
}
