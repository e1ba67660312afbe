package telemetry

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func filled() *Metrics {
	m := New()
	m.Request("redis-outage", "outage", "get", "db-fallback", 200, 3*time.Millisecond)
	m.Dropped("redis-outage")
	m.StaleRead("redis-outage", "recovery", "redis")
	m.Fault("redis-outage", "outage", "redis", "blackhole", true)
	m.Verdict("redis-outage", "http_req_duration{phase:outage} p(95)<50", "pass")
	m.Run("redis-outage", "hardened", "pass")
	return m
}

func TestLint(t *testing.T) {
	problems, err := testutil.GatherAndLint(filled().Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestSpecLabel: every flagstorm_* series names its scenario file with
// "spec"; none carries "scenario", which in k6 and in our thresholds is a
// scenario inside a file.
func TestSpecLabel(t *testing.T) {
	mfs, err := filled().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "flagstorm_") {
			continue
		}
		seen[mf.GetName()] = true
		t.Run(mf.GetName(), func(t *testing.T) {
			for _, m := range mf.GetMetric() {
				spec := ""
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "spec":
						spec = l.GetValue()
					case "scenario":
						t.Errorf("series carries scenario=%q: the scenario file's label is spec", l.GetValue())
					}
				}
				if spec != "redis-outage" {
					t.Errorf("spec = %q, want %q", spec, "redis-outage")
				}
			}
		})
	}
	for _, name := range []string{
		"flagstorm_http_request_duration_seconds", "flagstorm_http_requests_total", "flagstorm_dropped_iterations_total",
		"flagstorm_stale_reads_total", "flagstorm_fault_active", "flagstorm_threshold_passed", "flagstorm_run_info",
	} {
		if !seen[name] {
			t.Errorf("%s not gathered", name)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestServe(t *testing.T) {
	m := filled()
	addr, stop, err := m.Serve(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	body := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`flagstorm_http_requests_total{name="get",phase="outage",source="db-fallback",spec="redis-outage",status="200"} 1`,
		`flagstorm_fault_active{phase="outage",proxy="redis",spec="redis-outage",type="blackhole"} 1`,
		`flagstorm_threshold_passed{spec="redis-outage",threshold="http_req_duration{phase:outage} p(95)<50"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestPushToRealPushgateway pushes to Debian's prometheus-pushgateway
// started on a free loopback port (skipped when it is not installed).
func TestPushToRealPushgateway(t *testing.T) {
	bin, err := exec.LookPath("prometheus-pushgateway")
	if err != nil {
		t.Skip("prometheus-pushgateway not installed (apt-get install -y prometheus-pushgateway)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--web.listen-address="+addr, "--persistence.file=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	url := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get(url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("pushgateway did not become ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := filled().Push(t.Context(), url, "redis-outage-hardened"); err != nil {
		t.Fatal(err)
	}
	body := get(t, url+"/metrics")
	want := fmt.Sprintf(`flagstorm_run_info{instance="",job="flagstorm",profile="hardened",run="redis-outage-hardened",spec="redis-outage",verdict="pass"} 1`)
	if !strings.Contains(body, want) {
		t.Errorf("pushgateway lacks %s", want)
	}
}

// TestScenariosExportZeroes: a clean run exports dropped iterations as 0,
// so dashboards and alerts see a value, not an absent series.
func TestScenariosExportZeroes(t *testing.T) {
	m := New()
	m.Scenarios("baseline")
	if got := testutil.ToFloat64(m.dropped.WithLabelValues("baseline")); got != 0 {
		t.Fatalf("dropped = %v before any drop", got)
	}
	if n := testutil.CollectAndCount(m.dropped, "flagstorm_dropped_iterations_total"); n != 1 {
		t.Fatalf("%d dropped series exported, want 1 at 0", n)
	}
	m.Dropped("baseline")
	if got := testutil.ToFloat64(m.dropped.WithLabelValues("baseline")); got != 1 {
		t.Fatalf("dropped = %v after one drop", got)
	}
}

// TestCheckedExportsZeroStaleReads: a checked run with no stale read
// exports the counter at 0 for every phase and source; an unchecked one
// exports none.
func TestCheckedExportsZeroStaleReads(t *testing.T) {
	m := New()
	if n := testutil.CollectAndCount(m.stale, "flagstorm_stale_reads_total"); n != 0 {
		t.Fatalf("%d stale series before the run is checked, want 0", n)
	}
	m.Checked("outage", []string{"steady", "outage"}, []string{"redis", "db"})
	if n := testutil.CollectAndCount(m.stale, "flagstorm_stale_reads_total"); n != 4 {
		t.Fatalf("%d stale series, want 4 (2 phases x 2 sources)", n)
	}
	m.StaleRead("outage", "outage", "db")
	if got := testutil.ToFloat64(m.stale.WithLabelValues("outage", "outage", "db")); got != 1 {
		t.Fatalf("stale = %v after one stale read", got)
	}
	if got := testutil.ToFloat64(m.stale.WithLabelValues("outage", "steady", "redis")); got != 0 {
		t.Fatalf("stale = %v where none happened", got)
	}
}
