package benchkit

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
		want        WrkResult
		wantValid   bool
		wantProblem string
		wantRPS     float64 // wrk's own Requests/sec line
	}{
		{
			name: "clean run",
			file: "wrk-ok.txt",
			want: WrkResult{
				Requests: 60107, Duration: 2042289 * time.Microsecond, Bytes: 18573063,
				P50: 1242 * time.Microsecond, P95: 20762 * time.Microsecond,
				P99: 65173 * time.Microsecond, Max: 100757 * time.Microsecond,
			},
			wantValid: true,
			wantRPS:   29431.19,
		},
		{
			name: "every response 404",
			file: "wrk-status.txt",
			want: WrkResult{
				Requests: 67694, Duration: 2016865 * time.Microsecond, Bytes: 15772598, Status: 67694,
				P50: 1243 * time.Microsecond, P95: 5606 * time.Microsecond,
				P99: 20030 * time.Microsecond, Max: 66457 * time.Microsecond,
			},
			wantProblem: "67694 non-2xx",
			wantRPS:     33563.97,
		},
		{
			name: "status and socket errors",
			file: "wrk-errors.txt",
			want: WrkResult{
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
			got, err := ParseWrk(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseWrk (-want +got):\n%s", diff)
			}
			if got.Valid() != tt.wantValid || got.Problem() != tt.wantProblem {
				t.Errorf("Valid() = %v, Problem() = %q; want %v, %q", got.Valid(), got.Problem(), tt.wantValid, tt.wantProblem)
			}
			if got.Failed() != got.Status+got.SocketErrors() {
				t.Errorf("Failed() = %d, want status and socket errors", got.Failed())
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
		{"connection refused: no done line", readTestdata(t, "wrk-connect.txt"), `no "benchkit-done:" line`},
		{"missing field", DonePrefix + " requests=1 duration_us=2", "bytes missing"},
		{"negative", strings.Replace(doneLine(), "requests=10", "requests=-10", 1), "requests: want a non-negative integer"},
		{"not a number", strings.Replace(doneLine(), "p99_us=9", "p99_us=nan", 1), "p99_us: want a non-negative integer"},
		{"not an integer", strings.Replace(doneLine(), "requests=10", "requests=1.5e3", 1), `requests: want a non-negative integer, got "1.5e3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWrk(tt.out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseWrk error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func doneLine() string {
	return DonePrefix + " requests=10 duration_us=1000000 bytes=100 status_errors=0 connect_errors=0 read_errors=0 " +
		"write_errors=0 timeouts=0 p50_us=1 p95_us=5 p99_us=9 max_us=12"
}

func TestDoneLine(t *testing.T) {
	r := WrkResult{Requests: 10, Duration: time.Second, Bytes: 100, P50: time.Microsecond, P95: 5 * time.Microsecond,
		P99: 9 * time.Microsecond, Max: 12 * time.Microsecond}
	if got := r.DoneLine(); got != doneLine() {
		t.Errorf("DoneLine() = %q\nwant          %q", got, doneLine())
	}
	r.Status, r.Connect, r.Read, r.Write, r.Timeouts = 1, 2, 3, 4, 5
	back, err := ParseWrk("some output\n" + r.DoneLine() + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, back); diff != "" {
		t.Errorf("ParseWrk(DoneLine()) (-want +got):\n%s", diff)
	}
}

func TestWrkArgs(t *testing.T) {
	want := []string{"-t2", "-c50", "-d10s", "--latency", "-s", "/tmp/done.lua", "http://127.0.0.1:1/"}
	if diff := cmp.Diff(want, WrkArgs(2, 50, 10*time.Second, "/tmp/done.lua", "http://127.0.0.1:1/")); diff != "" {
		t.Errorf("WrkArgs (-want +got):\n%s", diff)
	}
}

func TestNewWrk(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWrk("/usr/bin/wrk", dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "done.lua"))
	if err != nil || !strings.Contains(string(b), `io.write(string.format("`+DonePrefix+` requests=`) {
		t.Errorf("done.lua = %q, %v; want the done hook printing %s", b, err, DonePrefix)
	}
	if w.script != filepath.Join(dir, "done.lua") {
		t.Errorf("script %q", w.script)
	}
}

// TestWrkRun runs the real wrk with the done script against the hello
// handler: the Lua hook must print a line ParseWrk accepts, and the
// process's accounting comes with it.
func TestWrkRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs wrk for a second")
	}
	path, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not installed (apt-get install -y wrk)")
	}
	srv := httptest.NewServer(http.HandlerFunc(Hello))
	t.Cleanup(srv.Close)
	w, err := NewWrk(path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if v := w.Version(t.Context()); !strings.HasPrefix(v, "wrk ") {
		t.Errorf("Version() = %q, want wrk's", v)
	}
	res, g, err := w.Run(t.Context(), 1, 4, time.Second, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() || res.Requests == 0 || res.P50 <= 0 || res.P50 > res.P95 || res.P95 > res.P99 || res.P99 > res.Max {
		t.Errorf("implausible result %+v (%s)", res, res.Problem())
	}
	if res.Requests > 0 && res.Bytes/res.Requests <= int64(len(HelloBody)) {
		t.Errorf("%d bytes per response, want more than the %d-byte body", res.Bytes/res.Requests, len(HelloBody))
	}
	if g.CPU <= 0 || g.MaxRSS <= 0 || g.Wall <= 0 || g.ExitCode != 0 {
		t.Errorf("wrk's accounting %+v: want CPU time, peak RSS, wall time and exit status 0", g)
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
