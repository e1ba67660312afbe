package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/engine"
	"github.com/flagstorm/flagstorm/harness/internal/load"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/request"
	"github.com/flagstorm/flagstorm/harness/internal/telemetry"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// loop is a closed-model client of the clients part: how much of
// flagstorm's cost is its engine, and how much the HTTP client under it.
// Each runs in the hidden "-client-loop" mode, as its own process, so
// that its CPU time is accounted like the other generators'.
type loop uint8

// The loops, from the whole engine down to a bare socket.
const (
	// loopEngine is engine.Run as "flagstorm run" configures it, with the
	// telemetry observer the CLI installs: flagstorm without the CLI's
	// start-up and reports.
	loopEngine loop = iota + 1
	// loopEngineBare is engine.Run without an observer.
	loopEngineBare
	// loopNetHTTP is VU goroutines calling a keep-alive net/http client
	// back to back, counting responses: what flagstorm's engine sent
	// with before it had its own HTTP/1.1 client, for comparison.
	loopNetHTTP
	// loopRaw is one TCP connection per VU writing a fixed HTTP/1.1
	// request and reading the response with a minimal parser: what a Go
	// generator can do without net/http.
	loopRaw
	// loopEpoll is wrk's design in Go: one event loop per thread over
	// non-blocking connections in an epoll instance, no goroutine per
	// connection (Linux).
	loopEpoll
	// loopEpollRaw is loopEpoll with its system calls around the
	// runtime's bookkeeping (RawSyscall): what that bookkeeping costs.
	loopEpollRaw
)

var loopNames = [...]string{loopEngine: "engine", loopEngineBare: "engine-bare", loopNetHTTP: "net-http", loopRaw: "raw",
	loopEpoll: "epoll", loopEpollRaw: "epoll-raw"}

func (l loop) String() string {
	if l >= loopEngine && l <= loopEpollRaw {
		return loopNames[l]
	}
	return fmt.Sprintf("loop(%d)", uint8(l))
}

// parseLoop parses a loop's name.
func parseLoop(s string) (loop, error) {
	for l := loopEngine; l <= loopEpollRaw; l++ {
		if loopNames[l] == s {
			return l, nil
		}
	}
	return 0, fmt.Errorf("unknown client loop %q (want engine, engine-bare, net-http, raw, epoll or epoll-raw)", s)
}

var loops = []loop{loopEngine, loopEngineBare, loopNetHTTP, loopRaw, loopEpoll, loopEpollRaw}

// clientLoop is the hidden "-client-loop KIND -url URL -vus N -duration D
// [-threads T] [-cpuprofile FILE]" mode.
func clientLoop(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchengine -client-loop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("client-loop", "", "engine, engine-bare, net-http, raw, epoll or epoll-raw")
	target := fs.String("url", "", "URL to GET")
	vus := fs.Int("vus", 50, "concurrent VUs")
	duration := fs.Duration("duration", 10*time.Second, "length of the run")
	threads := fs.Int("threads", 2, "event loops of the epoll loops")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	l, err := parseLoop(*kind)
	if err == nil && (*target == "" || *vus < 1 || *duration <= 0 || *threads < 1) {
		err = errors.New("-url, -vus >= 1, -threads >= 1 and -duration > 0 are required")
	}
	if err != nil {
		fmt.Fprintf(stderr, "benchengine -client-loop: %v\n", err)
		return exitUsage
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "benchengine -client-loop: %v\n", err)
			return exitFailed
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "benchengine -client-loop: %v\n", err)
			return exitFailed
		}
		defer pprof.StopCPUProfile()
	}
	var n, failed int64
	start := time.Now()
	switch l {
	case loopEngine, loopEngineBare:
		n, failed, err = runEngineLoop(ctx, l == loopEngine, *target, *vus, *duration)
	case loopNetHTTP:
		n, failed, err = runNetHTTPLoop(ctx, *target, *vus, *duration)
	case loopRaw:
		n, failed, err = runRawLoop(ctx, *target, *vus, *duration)
	case loopEpoll, loopEpollRaw:
		n, failed, err = runEpollLoop(ctx, l == loopEpollRaw, *target, *vus, *threads, *duration)
	}
	took := time.Since(start)
	if err != nil {
		fmt.Fprintf(stderr, "benchengine -client-loop %s: %v\n", l, err)
		return exitFailed
	}
	// wrk's done line without latencies, so that runLoopProc reads it
	// like wrk's output.
	fmt.Fprintln(stdout, benchkit.WrkResult{Requests: n, Duration: took, Status: failed}.DoneLine())
	return exitOK
}

// runEngineLoop runs engine.Run with the configuration "flagstorm run"
// builds for a one-GET constant-vus scenario.
func runEngineLoop(ctx context.Context, observe bool, target string, vus int, d time.Duration) (int64, int64, error) {
	u, err := url.Parse(target)
	if err != nil {
		return 0, 0, err
	}
	base := u.Scheme + "://" + u.Host
	mix, err := request.NewMix([]string{base}, []request.Template{{Name: "get", Weight: 1, Method: "GET", Path: u.RequestURI()}}, request.Pools{})
	if err != nil {
		return 0, 0, err
	}
	ts, err := verdict.Parse(map[string][]verdict.Spec{"http_req_failed": {{Threshold: "rate==0"}}}, verdict.DefaultCatalog())
	if err != nil {
		return 0, 0, err
	}
	cfg := engine.Config{
		Plan: load.Plan{Scenarios: []load.Scenario{{Name: "default",
			Executor: load.ConstantVUs{VUs: vus, Duration: d, GracefulStop: gracefulStop}}}},
		Mix:            mix,
		Thresholds:     ts,
		Phases:         []engine.Phase{{Name: "steady"}},
		RequestTimeout: 10 * time.Second,
		MaxVUs:         vus,
	}
	if observe {
		tel := telemetry.New()
		cfg.Observe = func(r engine.Response) {
			tel.Request("default", r.Phase, r.Template.Name, r.Source, r.Status, r.Done.Sub(r.Intended))
		}
	}
	res, err := engine.Run(ctx, cfg)
	if err != nil {
		return 0, 0, err
	}
	sum, _ := res.Recorder.Summarize(recordSelector("http_reqs"))
	failed, _ := res.Recorder.Summarize(recordSelector("http_req_failed"))
	return int64(sum.Sum), int64(failed.Sum), nil
}

// runNetHTTPLoop has vus goroutines GET target back to back with a
// net/http client tuned as flagstorm's was before it had its own HTTP/1.1
// client, for d.
func runNetHTTPLoop(ctx context.Context, target string, vus int, d time.Duration) (int64, int64, error) {
	client := &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        vus * 2,
		MaxIdleConnsPerHost: vus * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n, failed atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, vus)
	for i := range vus {
		wg.Go(func() {
			buf := make([]byte, 4096)
			for ctx.Err() == nil {
				req, err := newGet(ctx, target)
				if err != nil {
					errs[i] = err
					return
				}
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
				if resp.StatusCode >= 400 {
					failed.Add(1)
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return n.Load(), failed.Load(), errors.Join(errs...)
}

// runRawLoop has vus goroutines, each with its own keep-alive
// connection, write a fixed GET and read the response (status line,
// headers up to the blank line, Content-Length bytes of body) for d.
func runRawLoop(ctx context.Context, target string, vus int, d time.Duration) (int64, int64, error) {
	u, err := url.Parse(target)
	if err != nil {
		return 0, 0, err
	}
	reqBytes := []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: benchengine-raw\r\n\r\n")
	deadline := time.Now().Add(d)
	var n, failed atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, vus)
	for i := range vus {
		wg.Go(func() {
			var dialer net.Dialer
			conn, err := dialer.DialContext(ctx, "tcp", u.Host)
			if err != nil {
				errs[i] = err
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(deadline.Add(10 * time.Second))
			br := bufio.NewReaderSize(conn, 8192)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if _, err := conn.Write(reqBytes); err != nil {
					errs[i] = err
					return
				}
				status, err := readRawResponse(br)
				if err != nil {
					errs[i] = err
					return
				}
				if status >= 400 {
					failed.Add(1)
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return n.Load(), failed.Load(), errors.Join(errs...)
}

// readRawResponse reads one HTTP/1.1 response with a Content-Length and
// returns its status.
func readRawResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", v)
			}
		}
	}
	if length < 0 {
		return 0, errors.New("response without Content-Length")
	}
	if _, err := br.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
}

func newGet(ctx context.Context, target string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
}

func recordSelector(metric string) record.Selector { return record.Selector{Metric: metric} }
