package run

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/exitcode"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/scenarios"
)

// serverEnv makes the test binary serve HTTP on loopback instead of
// testing: a target in another process, which starving this one leaves
// alone.
const serverEnv = "FLAGSTORM_TEST_RUN_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(ln.Addr())
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"ok":true}`))
		})}
		go func() { // exit when the test closes our stdin
			bufio.NewReader(os.Stdin).ReadString('\n')
			os.Exit(0)
		}()
		_ = srv.Serve(ln)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serverProcess starts the test binary as an HTTP server and returns its
// URL; it stops when the test ends.
func serverProcess(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("server process: %v", err)
	}
	return "http://" + strings.TrimSpace(addr)
}

// starve takes the CPU from the test process until the returned function
// is called: one P, and a goroutine that copies a large buffer over and
// over.
// A copy runs in the runtime's memmove, which cannot be preempted, so
// every other goroutine (the load generator's schedule, its lag probe)
// waits for it each time: a deliberately starved generator.
func starve(t *testing.T) func() {
	t.Helper()
	prev := runtime.GOMAXPROCS(1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Size the copy to stall about 60 ms (memory bandwidth, -race),
	// well beyond the generator's tolerance.
	const probe = 32 << 20
	src, dst := make([]byte, probe), make([]byte, probe)
	copy(dst, src) // fault the pages in: the first copy is slower
	began := time.Now()
	copy(dst, src)
	size := min(int(float64(probe)*float64(60*time.Millisecond)/float64(max(time.Since(began), time.Microsecond))), 768<<20)
	src, dst = make([]byte, size), make([]byte, size)
	copy(dst, src)
	wg.Go(func() {
		for ctx.Err() == nil {
			copy(dst, src)
			runtime.Gosched() // let the run make some progress between stalls
		}
	})
	stop := func() {
		cancel()
		wg.Wait()
		runtime.GOMAXPROCS(prev)
	}
	t.Cleanup(stop)
	return stop
}

// A generator that falls behind its own schedule cannot fail the target:
// the latency threshold its lag can explain is inconclusive, with the
// reason, and the run exits 3.
func TestStarvedGeneratorIsInconclusive(t *testing.T) {
	if testing.Short() {
		t.Skip("starves the process for 3 s")
	}
	if !raceBuild {
		// Without -race a 768 MiB memmove stalls the scheduler for only
		// ~30 ms here (measured), too little to put the generator behind
		// reliably; the race detector slows it to the 60 ms starve aims
		// for. make test and make test-short run with -race.
		t.Skip("starve's stall is calibrated for -race builds (make test)")
	}
	url := serverProcess(t)
	spec, err := scenarios.Parse("starved.yaml", []byte(`name: starved
load: {executor: constant-vus, vus: 2, duration: 3s}
requests:
  - {name: get, weight: 1, method: GET, path: "/x"}
thresholds:
  http_req_duration: ["p(95)<0.001"]
  http_reqs: ["count>0"]
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	stop := starve(t)
	var stdout bytes.Buffer
	out, err := Execute(t.Context(), p, Remote{URLs: []string{url}}, Options{Stdout: &stdout})
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if out.Judgement.Verdict != exitcode.VerdictInconclusive {
		t.Fatalf("verdict %s, want inconclusive:\n%s", out.Judgement.Verdict, stdout.String())
	}
	r := out.Judgement.Summary.Results[0]
	if r.Threshold.Metric != "http_req_duration" || r.Verdict() != verdict.NoData || !strings.Contains(r.Reason, "load generator fell behind") {
		t.Errorf("latency threshold %s, want inconclusive blaming the generator", r)
	}
	if !strings.Contains(stdout.String(), "load generator: fell behind in phase steady") {
		t.Errorf("summary does not say the generator fell behind:\n%s", stdout.String())
	}
}
