package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name        string
		file        string
		want        wrkResult
		wantValid   bool
		wantProblem string
		wantRPS     float64
	}{
		{
			name: "clean run",
			file: "wrk-ok.txt",
			want: wrkResult{
				Requests: 131761, Duration: 3012778 * time.Microsecond, Bytes: 40714149,
				P50: 851 * time.Microsecond, P95: 6180 * time.Microsecond,
				P99: 14505 * time.Microsecond, Max: 48948 * time.Microsecond,
			},
			wantValid: true,
			wantRPS:   43734.06, // wrk's own Requests/sec line
		},
		{
			name: "errors",
			file: "wrk-errors.txt",
			want: wrkResult{
				Requests: 196402, Duration: 10020 * time.Millisecond, Bytes: 64182034,
				Status: 407, Read: 12, Timeouts: 3,
				P50: 2010 * time.Microsecond, P95: 9875 * time.Microsecond,
				P99: 210330 * time.Microsecond, Max: 1990 * time.Millisecond,
			},
			wantProblem: "407 non-2xx, 15 socket errors (connect 0, read 12, write 0, timeout 3)",
			wantRPS:     19601.00,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseWrk(string(out))
			if err != nil {
				t.Fatalf("parseWrk: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseWrk (-want +got):\n%s", diff)
			}
			if got.Valid() != tt.wantValid {
				t.Errorf("Valid() = %v, want %v", got.Valid(), tt.wantValid)
			}
			if got.Problem() != tt.wantProblem {
				t.Errorf("Problem() = %q, want %q", got.Problem(), tt.wantProblem)
			}
			if rps := got.RPS(); rps < tt.wantRPS*0.999 || rps > tt.wantRPS*1.001 {
				t.Errorf("RPS() = %.2f, want wrk's %.2f", rps, tt.wantRPS)
			}
		})
	}
}

func TestParseWrkRejects(t *testing.T) {
	tests := []struct {
		name, out, wantErr string
	}{
		{"no done line", "Running 10s test @ http://x/\nRequests/sec:  1.00\n", "no \"benchtarget-done:\" line"},
		{"missing field", donePrefix + " requests=1 duration_us=2\n", "bytes missing"},
		{"not a number", donePrefix + " requests=1.5e3 duration_us=2 bytes=0 status_errors=0 connect_errors=0 " +
			"read_errors=0 write_errors=0 timeouts=0 p50_us=1 p95_us=1 p99_us=1 max_us=1\n", `requests: want a non-negative integer, got "1.5e3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseWrk(tt.out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseWrk error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestWrkArgs(t *testing.T) {
	w := &wrk{script: "/tmp/done.lua", threads: 2, connections: 50, duration: 10 * time.Second}
	want := []string{"-t2", "-c50", "-d10s", "--latency", "-s", "/tmp/done.lua", "http://127.0.0.1:1/"}
	if diff := cmp.Diff(want, w.args("http://127.0.0.1:1/")); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
}

// TestWrkRun runs the real wrk with the done script against the hello
// handler: the Lua hook must print a line parseWrk accepts.
func TestWrkRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs wrk for a second")
	}
	path, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not installed (apt-get install -y wrk)")
	}
	srv := httptest.NewServer(http.HandlerFunc(hello))
	t.Cleanup(srv.Close)
	w, err := newWrk(path, t.TempDir(), 1, 4, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.run(t.Context(), srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() || res.Requests < 100 || res.P95 <= 0 || res.P99 < res.P95 || res.Max < res.P99 {
		t.Errorf("implausible result %+v (%s)", res, res.Problem())
	}
	if int64(len(referenceBody)) > res.Bytes/res.Requests {
		t.Errorf("%d bytes per response, want more than the %d-byte body", res.Bytes/res.Requests, len(referenceBody))
	}
}
