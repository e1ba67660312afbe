package benchkit

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name   string
		xs     []float64
		want   float64
		wantOK bool
	}{
		{"none", nil, 0, false},
		{"one", []float64{7}, 7, true},
		{"odd", []float64{3, 1, 2}, 2, true},
		{"even", []float64{4, 1, 3, 2}, 2.5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			xs := append([]float64(nil), tt.xs...)
			got, ok := Median(xs)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Median(%v) = %v, %v; want %v, %v", tt.xs, got, ok, tt.want, tt.wantOK)
			}
			if !cmp.Equal(xs, tt.xs) {
				t.Errorf("Median sorted its argument: %v", xs)
			}
		})
	}
}

func TestMedianOf(t *testing.T) {
	runs := []WrkResult{
		{Requests: 100, Duration: time.Second},
		{Requests: 9000, Duration: time.Second, Status: 1}, // invalid: left out
		{Requests: 300, Duration: time.Second},
	}
	if got, ok := MedianOf(runs, WrkResult.RPS); !ok || got != 200 {
		t.Errorf("MedianOf = %v, %v; want 200 (the invalid run left out)", got, ok)
	}
	if _, ok := MedianOf(runs[1:2], WrkResult.RPS); ok {
		t.Error("MedianOf of invalid runs only: want none")
	}
}

func TestRounds(t *testing.T) {
	runs := []WrkResult{
		{Requests: 27000, Duration: time.Second},
		{Requests: 99000, Duration: time.Second, Status: 3},
		{Requests: 28000, Duration: time.Second},
		{Duration: time.Second},
	}
	cell, invalid := Rounds(runs)
	if want := "27000 · ~~99000~~ · 28000 · ~~0~~"; cell != want {
		t.Errorf("cell = %q, want %q", cell, want)
	}
	if diff := cmp.Diff([]string{"round 2: 3 non-2xx", "round 4: no requests"}, invalid); diff != "" {
		t.Errorf("invalid (-want +got):\n%s", diff)
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	WriteInvalid(p, nil)
	if b.Len() != 0 {
		t.Errorf("WriteInvalid of none wrote %q", b.String())
	}
	WriteInvalid(p, []string{"hello, round 2: 3 non-2xx"})
	if want := "\nInvalid runs (struck through, left out of the medians):\n- hello, round 2: 3 non-2xx\n"; b.String() != want {
		t.Errorf("WriteInvalid wrote %q, want %q", b.String(), want)
	}
}

func TestRPSRatio(t *testing.T) {
	run := func(rps int64) WrkResult { return WrkResult{Requests: rps, Duration: time.Second} }
	invalid := WrkResult{Requests: 1, Duration: time.Second, Read: 1}
	tests := []struct {
		name     string
		num, den []WrkResult
		want     float64
		wantOK   bool
	}{
		{"medians", []WrkResult{run(90), run(100), run(80)}, []WrkResult{run(100), run(90), run(110), invalid}, 0.9, true},
		{"no valid numerator", []WrkResult{invalid}, []WrkResult{run(1)}, 0, false},
		{"no valid denominator", []WrkResult{run(1)}, nil, 0, false},
		{"zero denominator", []WrkResult{run(1)}, []WrkResult{{Requests: 1}}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RPSRatio(tt.num, tt.den)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("RPSRatio = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Ms(1250 * time.Microsecond), "1.25 ms"},
		{Ms(0), "0.00 ms"},
		{MiB(20 << 20), "20.0 MiB"},
		{MiB(64<<20 + 512<<10), "64.5 MiB"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestSetupWriteHead(t *testing.T) {
	s := Setup{Command: "benchtarget -rounds 1", Date: time.Date(2026, 11, 26, 5, 7, 0, 0, time.UTC),
		NProc: 2, CPU: "Example CPU", RAM: "7.8 GiB", GoVersion: "go1.26.0"}
	var b bytes.Buffer
	s.WriteHead(&b)
	want := "### Setup\n\n| | |\n|---|---|\n| command | `benchtarget -rounds 1` |\n| date | 2026-11-26 05:07 UTC |\n" +
		"| machine | nproc 2, Example CPU, 7.8 GiB RAM |\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("WriteHead (-want +got):\n%s", diff)
	}
	now := NewSetup("x")
	if now.Command != "x" || now.NProc != runtime.NumCPU() || now.GoVersion != runtime.Version() || now.Date.Location() != time.UTC {
		t.Errorf("NewSetup = %+v", now)
	}
}

func TestWriteGoals(t *testing.T) {
	tests := []struct {
		name       string
		vs         []Verdict
		want       string
		wantPassed bool
	}{
		{"none", nil, "### Goals\n\nNo goal applies to the parts run.\n", true},
		{"pass and fail", []Verdict{{Goal: "a ≥ 1", Pass: true, Got: "2"}, {Goal: "b ≤ 1", Got: "3"}},
			"### Goals\n\n| goal | verdict | measured |\n|---|---|---|\n| a ≥ 1 | **PASS** | 2 |\n| b ≤ 1 | **FAIL** | 3 |\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			WriteGoals(&b, tt.vs)
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("WriteGoals (-want +got):\n%s", diff)
			}
			if got := Passed(tt.vs); got != tt.wantPassed {
				t.Errorf("Passed = %v, want %v", got, tt.wantPassed)
			}
		})
	}
}

func TestWriteReport(t *testing.T) {
	markdown := func(w io.Writer) { _, _ = io.WriteString(w, "### Report\n") }
	var stdout bytes.Buffer
	file := filepath.Join(t.TempDir(), "report.md")
	if err := WriteReport(&stdout, file, markdown); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil || string(b) != "### Report\n" || stdout.String() != "### Report\n" {
		t.Errorf("stdout %q, file %q (%v); want the report in both", stdout.String(), b, err)
	}
	stdout.Reset()
	if err := WriteReport(&stdout, "", markdown); err != nil || stdout.String() != "### Report\n" {
		t.Errorf("without a file: %q, %v", stdout.String(), err)
	}
	err = WriteReport(io.Discard, filepath.Join(t.TempDir(), "no", "such", "dir.md"), markdown)
	if err == nil || !strings.HasPrefix(err.Error(), "-markdown: ") {
		t.Errorf("unwritable file: %v, want a -markdown error", err)
	}
}

func TestDescribeBinary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if got := DescribeBinary(self); !strings.HasPrefix(got, self+" (go") || !strings.HasSuffix(got, ")") {
		t.Errorf("DescribeBinary(test binary) = %q, want its path and Go version", got)
	}
	missing := filepath.Join(t.TempDir(), "flagserver")
	if got := DescribeBinary(missing); got != missing {
		t.Errorf("DescribeBinary(missing) = %q, want the path alone", got)
	}
}
