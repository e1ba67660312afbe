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
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ignoreProc leaves the process accounting out of comparisons of parsed
// results.
var ignoreProc = cmpopts.IgnoreFields(result{}, "Proc")

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		want      result
		wantValid bool
		wantRPS   float64 // wrk's own Requests/sec line
	}{
		{
			name: "clean run",
			file: "wrk-ok.txt",
			want: result{
				Requests: 60107, Duration: 2042289 * time.Microsecond,
				P50: 1242 * time.Microsecond, P95: 20762 * time.Microsecond,
				P99: 65173 * time.Microsecond, Max: 100757 * time.Microsecond,
			},
			wantValid: true,
			wantRPS:   29431.19,
		},
		{
			name: "every response 404",
			file: "wrk-status.txt",
			want: result{
				Requests: 67694, Duration: 2016865 * time.Microsecond, Failed: 67694,
				P50: 1243 * time.Microsecond, P95: 5606 * time.Microsecond,
				P99: 20030 * time.Microsecond, Max: 66457 * time.Microsecond,
			},
			wantRPS: 33563.97,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(result{}), ignoreProc); diff != "" {
				t.Errorf("parseWrk (-want +got):\n%s", diff)
			}
			if got.Valid() != tt.wantValid {
				t.Errorf("Valid() = %v, want %v (problem %q)", got.Valid(), tt.wantValid, got.Problem())
			}
			if d := got.RPS() - tt.wantRPS; d > 0.01 || d < -0.01 {
				t.Errorf("RPS() = %.2f, want wrk's %.2f", got.RPS(), tt.wantRPS)
			}
		})
	}
}

func TestParseWrkErrors(t *testing.T) {
	tests := []struct {
		name, out, wantErr string
	}{
		{"connection refused: no done line", readTestdata(t, "wrk-connect.txt"), "no \"benchengine-done:\" line"},
		{"missing field", donePrefix + " requests=1 duration_us=2", "bytes missing"},
		{"negative", strings.Replace(doneLine(), "requests=10", "requests=-10", 1), "requests: want a non-negative integer"},
		{"not a number", strings.Replace(doneLine(), "p99_us=9", "p99_us=nan", 1), "p99_us: want a non-negative integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseWrk(tt.out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseWrk error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func doneLine() string {
	return donePrefix + " requests=10 duration_us=1000000 bytes=100 status_errors=0 connect_errors=0 read_errors=0 " +
		"write_errors=0 timeouts=0 p50_us=1 p95_us=5 p99_us=9 max_us=12"
}

// TestWrkDoneScript runs the real wrk with the done script against a test
// server: the line it prints is the one parseWrk reads.
func TestWrkDoneScript(t *testing.T) {
	path, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk not installed (apt-get install -y wrk)")
	}
	srv := httptest.NewServer(http.HandlerFunc(hello))
	defer srv.Close()
	w, err := newWrk(path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.run(t.Context(), 1, 2, time.Second, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() || res.Duration < 900*time.Millisecond || res.P50 <= 0 || res.P50 > res.Max {
		t.Errorf("wrk result %+v: want a valid run of about 1 s with ordered percentiles", res)
	}
	if res.Proc.cpu <= 0 || res.Proc.maxRSS <= 0 || res.Proc.wall < time.Second {
		t.Errorf("wrk's accounting %+v: want CPU time, peak RSS and at least 1 s of wall time", res.Proc)
	}
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
