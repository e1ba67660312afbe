package toxics

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/flagstorm/flagstorm/internal/freeport"
	"github.com/flagstorm/flagstorm/internal/testenv"
)

func TestNewRemoteConfig(t *testing.T) {
	tests := []struct {
		url, want string // want "" means an error
	}{
		{"http://127.0.0.1:8474", "http://127.0.0.1:8474"},
		{"127.0.0.1:8474", "http://127.0.0.1:8474"},
		{"https://toxiproxy.example:8474/", "https://toxiproxy.example:8474"},
		{"", ""},
		{"ftp://127.0.0.1:8474", ""},
		{"http://", ""},
	}
	for _, tt := range tests {
		r, err := NewRemote(RemoteConfig{URL: tt.url})
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("NewRemote(%q) succeeded, want an error", tt.url)
		case tt.want != "" && err != nil:
			t.Errorf("NewRemote(%q): %v", tt.url, err)
		case tt.want != "" && r.URL() != tt.want:
			t.Errorf("NewRemote(%q).URL() = %q, want %q", tt.url, r.URL(), tt.want)
		}
	}
}

// TestRemoteHungServer checks that every call returns an error by its
// timeout, or sooner when the context says so.
func TestRemoteHungServer(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	rem, err := NewRemote(RemoteConfig{
		// A server that accepts connections and never answers, like a
		// Toxiproxy stuck removing a toxic under traffic.
		URL:     testenv.TCPServer(t, nil),
		Timeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(context.Context) error{
		"Proxies": func(ctx context.Context) error { _, err := rem.Proxies(ctx); return err },
		"Apply": func(ctx context.Context) error {
			_, err := rem.Apply(ctx, Fault{Proxy: "redis", Kind: Blackhole})
			return err
		},
		"Remove": func(ctx context.Context) error {
			return rem.Remove(ctx, Applied{Proxy: "redis", Toxics: []string{"x"}})
		},
		"ResetAll": func(ctx context.Context) error { return rem.ResetAll(ctx) },
		"SetUpstream": func(ctx context.Context) error {
			return rem.SetUpstream(ctx, "redis", "127.0.0.1:1")
		},
		"Version": func(ctx context.Context) error { _, err := rem.Version(ctx); return err },
		"Proxy":   func(ctx context.Context) error { _, err := rem.Proxy(ctx, "redis"); return err },
		"EnsureProxy": func(ctx context.Context) error {
			_, err := rem.EnsureProxy(ctx, "redis", "127.0.0.1:0", "127.0.0.1:1")
			return err
		},
	}
	var wg sync.WaitGroup
	for name, call := range calls {
		wg.Go(func() {
			d, err := timed(func() error { return call(t.Context()) })
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s against a hung server: %v, want a deadline error", name, err)
			}
			if d < timeout || d > timeout+time.Second {
				t.Errorf("%s against a hung server returned after %v, want about %v", name, d, timeout)
			}
		})
	}
	wg.Wait()

	// A shorter deadline from the caller wins.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	d, err := timed(func() error { return rem.ResetAll(ctx) })
	if err == nil || d > timeout {
		t.Errorf("ResetAll with a 50 ms deadline: %v after %v, want an error before %v", err, d, timeout)
	}
}

func TestRemoteUnreachable(t *testing.T) {
	t.Parallel()
	port, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	rem, err := NewRemote(RemoteConfig{URL: "127.0.0.1:" + strconv.Itoa(port), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d, err := timed(func() error { _, err := rem.Proxies(t.Context()); return err })
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Proxies on a closed port: %v, want connection refused", err)
	}
	if d > 500*time.Millisecond {
		t.Errorf("Proxies on a closed port took %v", d)
	}
}

// TestEmbeddedAPIServesStandardClient drives the embedded server's HTTP API
// with Toxiproxy's own client, as toxiproxy-cli does, alongside a Remote.
func TestEmbeddedAPIServesStandardClient(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := newEmbedded(t, EmbeddedConfig{APIAddr: "127.0.0.1:0"})
	if !strings.HasPrefix(srv.APIURL(), "http://127.0.0.1:") {
		t.Fatalf("APIURL() = %q", srv.APIURL())
	}
	p := addProxy(t, srv, "redis", "127.0.0.1:1")
	rem, err := NewRemote(RemoteConfig{URL: srv.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := rem.Version(ctx); err != nil || v == "" {
		t.Errorf("Version() = %q, %v", v, err)
	}
	a, err := rem.Apply(ctx, Fault{Proxy: "redis", Kind: Latency, Latency: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	cli := toxiclient.NewClient(srv.APIURL())
	proxies, err := cli.Proxies()
	if err != nil {
		t.Fatalf("toxiproxy client: Proxies: %v", err)
	}
	cp, ok := proxies["redis"]
	if !ok || cp.Listen != p.Listen || len(cp.ActiveToxics) != 1 || cp.ActiveToxics[0].Name != a.Toxics[0] {
		t.Fatalf("toxiproxy client sees %+v, want proxy redis on %s with toxic %s", proxies, p.Listen, a.Toxics[0])
	}
	if got := cp.ActiveToxics[0].Attributes["latency"]; got != float64(20) {
		t.Errorf("latency attribute = %v, want 20 (milliseconds)", got)
	}
	// And the other way round: what the client does, the controller sees.
	if _, err := cp.AddToxic("by_cli", "timeout", "upstream", 1, toxiclient.Attributes{"timeout": 0}); err != nil {
		t.Fatal(err)
	}
	if got := len(proxyNamed(t, srv, "redis").Toxics); got != 2 {
		t.Errorf("embedded controller sees %d toxics, want 2", got)
	}
	if err := srv.ResetAll(ctx); err != nil {
		t.Fatal(err)
	}
	assertClean(t, rem)
}

// TestRemoteAgainstTestenvToxiproxy drives testenv's in-process Toxiproxy,
// whose proxies were made with testenv, through the Remote controller.
func TestRemoteAgainstTestenvToxiproxy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tp := testenv.Toxiproxy(t)
	srv := testenv.Redis(t)
	proxy := tp.NewProxy(t, "redis", srv.Addr())
	rem, err := NewRemote(RemoteConfig{URL: tp.URL()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := rem.Apply(ctx, Fault{Proxy: "redis", Kind: Blackhole})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", proxy.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := rawPing(c, 200*time.Millisecond); err == nil {
		t.Error("PING through a blackhole answered")
	}
	if err := rem.Remove(ctx, a); err != nil {
		t.Fatal(err)
	}
	c2, err := net.DialTimeout("tcp", proxy.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := rawPing(c2, 2*time.Second); err != nil {
		t.Errorf("PING after removing the blackhole: %v", err)
	}
}

// TestEmbeddedHungOperation checks the guard around Toxiproxy's
// context-free calls: a call that does not finish returns at its deadline,
// and Close reports it if it is still running.
func TestEmbeddedHungOperation(t *testing.T) {
	t.Parallel()
	e, err := NewEmbedded(EmbeddedConfig{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	d, err := timed(func() error { return e.do(ctx, func() error { <-release; return nil }) })
	if !errors.Is(err, context.DeadlineExceeded) || d > time.Second {
		t.Fatalf("hung operation: %v after %v, want a deadline error after 100 ms", err, d)
	}
	closeCtx, cancelClose := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancelClose()
	if err := e.Close(closeCtx); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("Close with a hung operation: %v, want it reported", err)
	}
	close(release)
	if err := e.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := e.Proxies(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Proxies after Close: %v, want ErrClosed", err)
	}
}
