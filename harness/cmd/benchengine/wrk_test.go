package main

import (
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
	"github.com/google/go-cmp/cmp"
)

func TestFromWrk(t *testing.T) {
	tests := []struct {
		name        string
		wrk         benchkit.WrkResult
		wantFailed  int64
		wantProblem string
	}{
		{"clean run", benchkit.WrkResult{Requests: 60107, Duration: 2042289 * time.Microsecond, Bytes: 18573063}, 0, ""},
		{"every response 404", benchkit.WrkResult{Requests: 67694, Duration: 2 * time.Second, Status: 67694}, 67694, "67694 failed requests"},
		{"errors and socket errors", benchkit.WrkResult{Requests: 196402, Duration: 10 * time.Second, Status: 407, Read: 12, Timeouts: 3}, 422, "422 failed requests"},
		{"no requests", benchkit.WrkResult{Duration: time.Second, Connect: 2}, 2, "no requests, 2 failed requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.wrk
			w.P50, w.P95, w.P99, w.Max = time.Millisecond, 2*time.Millisecond, 3*time.Millisecond, 4*time.Millisecond
			g := benchkit.GenProc{CPU: time.Second, Wall: 3 * time.Second, MaxRSS: 5 << 20}
			got := fromWrk(w, g)
			want := result{Requests: w.Requests, Duration: w.Duration, Failed: tt.wantFailed,
				P50: w.P50, P95: w.P95, P99: w.P99, Max: w.Max, Proc: g}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("fromWrk (-want +got):\n%s", diff)
			}
			if got.Problem() != tt.wantProblem || got.Valid() != (tt.wantProblem == "") {
				t.Errorf("Problem() = %q, Valid() = %v; want %q", got.Problem(), got.Valid(), tt.wantProblem)
			}
			if got.RPS() != w.RPS() {
				t.Errorf("RPS() = %.2f, want wrk's %.2f", got.RPS(), w.RPS())
			}
		})
	}
}
