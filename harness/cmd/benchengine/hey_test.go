package main

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
	"github.com/google/go-cmp/cmp"
)

func TestParseHey(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		want      result
		wantValid bool
		wantRPS   float64 // hey's own Requests/sec line
	}{
		{
			name: "clean run",
			file: "hey-ok.txt",
			want: result{
				Requests: 36611, Duration: 2001400 * time.Microsecond,
				P50: 2100 * time.Microsecond, P95: 6600 * time.Microsecond, P99: 13 * time.Millisecond,
			},
			wantValid: true,
			wantRPS:   18292.9656,
		},
		{
			name: "every response 404",
			file: "hey-status.txt",
			want: result{
				Requests: 14694, Failed: 14694, Duration: 1001700 * time.Microsecond,
				P50: 500 * time.Microsecond, P95: 1700 * time.Microsecond, P99: 2900 * time.Microsecond,
			},
			wantRPS: 14669.1222,
		},
		{
			name:    "connection refused: errors only, NaN latencies",
			file:    "hey-errors.txt",
			want:    result{Requests: 56630, Failed: 56630, Duration: 1000300 * time.Microsecond},
			wantRPS: 56610.3548,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseHey(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(result{}), ignoreProc); diff != "" {
				t.Errorf("parseHey (-want +got):\n%s", diff)
			}
			if got.Valid() != tt.wantValid {
				t.Errorf("Valid() = %v, want %v (problem %q)", got.Valid(), tt.wantValid, got.Problem())
			}
			// hey prints Total rounded to 0.1 ms: its own rate agrees to
			// about 1e-4.
			if rel := got.RPS()/tt.wantRPS - 1; rel > 1e-4 || rel < -1e-4 {
				t.Errorf("RPS() = %.4f, want hey's %.4f", got.RPS(), tt.wantRPS)
			}
		})
	}
}

func TestParseHeyErrors(t *testing.T) {
	ok := readTestdata(t, "hey-ok.txt")
	tests := []struct {
		name, out, wantErr string
	}{
		{"empty", "", `no "Total:" line`},
		{"no summary", strings.Replace(ok, "Total:", "Sum:", 1), `no "Total:" line`},
		{"bad total", strings.Replace(ok, "2.0014 secs", "2.0014 s", 1), `want "N secs"`},
		{"bad percentile", strings.Replace(ok, "50% in 0.0021 secs", "50% in soon", 1), `want "N secs"`},
		{"bad status count", strings.Replace(ok, "36611 responses", "many responses", 1), "want a count"},
		{"bad status code", strings.Replace(ok, "[200]\t36611", "[OK]\t36611", 1), "want a number in brackets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseHey(tt.out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseHey error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestHeyRun runs the real hey against a test server.
func TestHeyRun(t *testing.T) {
	path, err := exec.LookPath("hey")
	if err != nil {
		t.Skip("hey not installed (apt-get install -y hey)")
	}
	srv := httptest.NewServer(http.HandlerFunc(benchkit.Hello))
	defer srv.Close()
	h := &hey{path: path}
	res, err := h.run(t.Context(), 2, time.Second, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() || res.Duration < 900*time.Millisecond || res.P50 > res.P99 {
		t.Errorf("hey result %+v: want a valid run of about 1 s with ordered percentiles", res)
	}
}
