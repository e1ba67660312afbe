package promproc

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestScrapesALiveTarget starts a real Prometheus against a tiny /metrics
// endpoint and reads the scraped value back, labels included.
func TestScrapesALiveTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts prometheus and waits for its first scrape (~6 s)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("# TYPE probe_value gauge\nprobe_value 42\n"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, Config{Targets: []Target{{Job: "probe", Addr: ln.Addr().String(), Labels: map[string]string{"track": "canary"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	if err := s.WaitScraped(ctx); err != nil {
		t.Fatalf("never scraped: %v", err)
	}
	got, err := s.Query(ctx, `probe_value{track="canary"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Value != 42 || got[0].Labels["job"] != "probe" {
		t.Fatalf("probe_value = %+v, want one sample 42 with job=probe", got)
	}
	if _, err := s.Query(ctx, `rate(`); err == nil || !strings.Contains(err.Error(), "parse") {
		t.Fatalf("bad query: err = %v, want a parse error", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Fatal("still running after Stop")
	}
}

func TestRefusesNonLoopbackTargets(t *testing.T) {
	_, err := Start(context.Background(), Config{Targets: []Target{{Job: "x", Addr: "10.0.0.1:9090"}}})
	if err == nil || !strings.Contains(err.Error(), "not a loopback") {
		t.Fatalf("err = %v, want a loopback refusal", err)
	}
}
