package toxics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// proxyController is a Controller that can also add and remove proxies:
// both Embedded and Remote.
type proxyController interface {
	Controller
	AddProxy(ctx context.Context, name, listen, upstream string) (ProxyInfo, error)
	RemoveProxy(ctx context.Context, name string) error
}

// controllers returns the implementations the contract tests run
// against: an Embedded controller, a Remote one driving another embedded
// server through its HTTP API, and a Remote one driving a real
// toxiproxy-server process built from the pinned module.
func controllers(t *testing.T) []struct {
	name string
	ctrl proxyController
} {
	t.Helper()
	emb := newEmbedded(t, EmbeddedConfig{})
	srv := newEmbedded(t, EmbeddedConfig{APIAddr: "127.0.0.1:0"})
	rem, err := NewRemote(RemoteConfig{URL: srv.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	ext, err := NewRemote(RemoteConfig{URL: testenv.ExternalToxiproxy(t).URL()})
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		name string
		ctrl proxyController
	}{{"embedded", emb}, {"remote", rem}, {"toxiproxy-server", ext}}
}

// toxicName matches generated toxic names; the run id, the expiry and the
// sequence number differ between runs: "flagstorm.<run>.<expiry>.latency_upstream_1"
// is written "flagstorm_latency_upstream".
var toxicName = regexp.MustCompile(`^flagstorm\.[0-9a-z]+\.[0-9]+\.([a-z_]+?)_[0-9]+$`)

// snapshot describes the controller's proxies without what differs
// between servers (listen ports, generated parts of toxic names).
func snapshot(t *testing.T, c Controller) string {
	t.Helper()
	ps, err := c.Proxies(t.Context())
	if err != nil {
		t.Fatalf("Proxies: %v", err)
	}
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s enabled=%v upstream=%s", p.Name, p.Enabled, p.Upstream)
		for _, tx := range p.Toxics {
			if tx.Type == "noop" {
				continue // a Remote's marker of a disabled proxy: see TestSharedToxiproxy*
			}
			fmt.Fprintf(&b, " [%s %s %s %v %v]", toxicName.ReplaceAllString(tx.Name, "flagstorm_$1"), tx.Type, tx.Stream, tx.Toxicity, tx.Attributes)
		}
		b.WriteString("; ")
	}
	return b.String()
}

// outcome names an error by the sentinel or fields it carries.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrProxyNotFound):
		return "ErrProxyNotFound"
	case errors.Is(err, ErrProxyExists):
		return "ErrProxyExists"
	case errors.Is(err, ErrProxyDisabled):
		return "ErrProxyDisabled"
	}
	if fields := fieldErrors(err); len(fields) > 0 {
		return "fields " + strings.Join(fields, ",")
	}
	return "error"
}

// TestControllerParity runs one script against Embedded, Remote over the
// embedded API and Remote over a real toxiproxy-server: all must answer
// and end up alike, step by step.
func TestControllerParity(t *testing.T) {
	t.Parallel()
	const (
		up1 = "127.0.0.1:1" // never dialled: no client connects
		up2 = "127.0.0.1:2"
		up3 = "127.0.0.1:3"
	)
	type step struct {
		name string
		do   func(ctx context.Context, c proxyController, applied map[string]Applied) error
		want string // outcome, then the snapshot
	}
	apply := func(key string, f Fault) func(context.Context, proxyController, map[string]Applied) error {
		return func(ctx context.Context, c proxyController, applied map[string]Applied) error {
			a, err := c.Apply(ctx, f)
			if err == nil {
				applied[key] = a
			}
			return err
		}
	}
	remove := func(key string) func(context.Context, proxyController, map[string]Applied) error {
		return func(ctx context.Context, c proxyController, applied map[string]Applied) error {
			return c.Remove(ctx, applied[key])
		}
	}
	latency := "[flagstorm_latency_upstream latency upstream 0.5 map[jitter:10 latency:100]]" +
		" [flagstorm_latency_downstream latency downstream 0.5 map[jitter:10 latency:100]]"
	bandwidth := "[flagstorm_bandwidth_upstream bandwidth upstream 1 map[rate:10]]"
	steps := []step{
		{"add proxies", func(ctx context.Context, c proxyController, _ map[string]Applied) error {
			if _, err := c.AddProxy(ctx, "redis", "127.0.0.1:0", up1); err != nil {
				return err
			}
			_, err := c.AddProxy(ctx, "postgres", "127.0.0.1:0", up2)
			return err
		}, "ok: postgres enabled=true upstream=127.0.0.1:2; redis enabled=true upstream=127.0.0.1:1; "},
		{"latency both ways at half toxicity",
			apply("latency", Fault{Proxy: "redis", Kind: Latency, Direction: Both, Latency: 100 * time.Millisecond, Jitter: 10 * time.Millisecond, Toxicity: 0.5}),
			"ok: postgres enabled=true upstream=127.0.0.1:2; redis enabled=true upstream=127.0.0.1:1 " + latency + "; "},
		{"bandwidth upstream",
			apply("bandwidth", Fault{Proxy: "postgres", Kind: Bandwidth, Direction: Upstream, RateKBps: 10}),
			"ok: postgres enabled=true upstream=127.0.0.1:2 " + bandwidth + "; redis enabled=true upstream=127.0.0.1:1 " + latency + "; "},
		{"refused", apply("refused", Fault{Proxy: "redis", Kind: Refused}),
			"ok: postgres enabled=true upstream=127.0.0.1:2 " + bandwidth + "; redis enabled=false upstream=127.0.0.1:1 " + latency + "; "},
		{"refused again", apply("refused2", Fault{Proxy: "redis", Kind: Refused}),
			"ErrProxyDisabled: postgres enabled=true upstream=127.0.0.1:2 " + bandwidth + "; redis enabled=false upstream=127.0.0.1:1 " + latency + "; "},
		{"invalid fault", apply("bad", Fault{Proxy: "redsi", Kind: Latency, Latency: time.Millisecond, Toxicity: 2}),
			"fields proxy,toxicity: postgres enabled=true upstream=127.0.0.1:2 " + bandwidth + "; redis enabled=false upstream=127.0.0.1:1 " + latency + "; "},
		{"remove refused", remove("refused"),
			"ok: postgres enabled=true upstream=127.0.0.1:2 " + bandwidth + "; redis enabled=true upstream=127.0.0.1:1 " + latency + "; "},
		{"move redis", func(ctx context.Context, c proxyController, _ map[string]Applied) error {
			return c.SetUpstream(ctx, "redis", up3)
		}, "ok: postgres enabled=true upstream=127.0.0.1:2 " + bandwidth + "; redis enabled=true upstream=127.0.0.1:3 " + latency + "; "},
		{"move an unknown proxy", func(ctx context.Context, c proxyController, _ map[string]Applied) error {
			return c.SetUpstream(ctx, "nope", up3)
		}, "ErrProxyNotFound: postgres enabled=true upstream=127.0.0.1:2 " + bandwidth + "; redis enabled=true upstream=127.0.0.1:3 " + latency + "; "},
		{"move to a bad address", func(ctx context.Context, c proxyController, _ map[string]Applied) error {
			return c.SetUpstream(ctx, "redis", "nowhere")
		}, "error: postgres enabled=true upstream=127.0.0.1:2 " + bandwidth + "; redis enabled=true upstream=127.0.0.1:3 " + latency + "; "},
		{"remove latency", remove("latency"),
			"ok: postgres enabled=true upstream=127.0.0.1:2 " + bandwidth + "; redis enabled=true upstream=127.0.0.1:3; "},
		{"remove latency again", remove("latency"),
			"ok: postgres enabled=true upstream=127.0.0.1:2 " + bandwidth + "; redis enabled=true upstream=127.0.0.1:3; "},
		{"blackhole and refused, then reset all", func(ctx context.Context, c proxyController, _ map[string]Applied) error {
			if _, err := c.Apply(ctx, Fault{Proxy: "redis", Kind: Blackhole}); err != nil {
				return err
			}
			if _, err := c.Apply(ctx, Fault{Proxy: "postgres", Kind: Refused}); err != nil {
				return err
			}
			return c.ResetAll(ctx)
		}, "ok: postgres enabled=true upstream=127.0.0.1:2; redis enabled=true upstream=127.0.0.1:3; "},
		{"add an existing proxy", func(ctx context.Context, c proxyController, _ map[string]Applied) error {
			_, err := c.AddProxy(ctx, "redis", "127.0.0.1:0", up1)
			return err
		}, "ErrProxyExists: postgres enabled=true upstream=127.0.0.1:2; redis enabled=true upstream=127.0.0.1:3; "},
		{"remove a proxy", func(ctx context.Context, c proxyController, _ map[string]Applied) error {
			return c.RemoveProxy(ctx, "postgres")
		}, "ok: redis enabled=true upstream=127.0.0.1:3; "},
		{"remove it again", func(ctx context.Context, c proxyController, _ map[string]Applied) error {
			return c.RemoveProxy(ctx, "postgres")
		}, "ErrProxyNotFound: redis enabled=true upstream=127.0.0.1:3; "},
	}
	for _, cut := range controllers(t) {
		t.Run(cut.name, func(t *testing.T) {
			applied := map[string]Applied{}
			for _, s := range steps {
				err := s.do(t.Context(), cut.ctrl, applied)
				got := outcome(err) + ": " + snapshot(t, cut.ctrl)
				if diff := cmp.Diff(s.want, got); diff != "" {
					t.Fatalf("step %q (-want +got):\n%s\nerror: %v", s.name, diff, err)
				}
			}
		})
	}
}

// TestApplyBadInput checks that an invalid fault names the field and
// changes nothing.
func TestApplyBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault Fault
		field string
		msg   string
	}{
		{"unknown kind", Fault{Proxy: "redis", Kind: 42}, "kind", "unknown fault type Kind(42)"},
		{"missing kind", Fault{Proxy: "redis"}, "kind", "kind: missing"},
		{"negative duration", Fault{Proxy: "redis", Kind: Latency, Latency: -5 * time.Millisecond}, "latency", "latency: must not be negative"},
		{"unknown proxy", Fault{Proxy: "redsi", Kind: Blackhole}, "proxy", `proxy: unknown proxy "redsi" (known: postgres, redis, redis-replica)`},
		{"toxicity over 1", Fault{Proxy: "redis", Kind: Reset, Toxicity: 1.01}, "toxicity", "toxicity: 1.01 is outside [0, 1]"},
		{"bandwidth zero", Fault{Proxy: "redis", Kind: Bandwidth, Direction: Both}, "rate_kbps", "must be positive"},
	}
	for _, cut := range controllers(t) {
		t.Run(cut.name, func(t *testing.T) {
			ctx := t.Context()
			for _, name := range []string{"redis", "redis-replica", "postgres"} {
				addProxy(t, cut.ctrl, name, "127.0.0.1:1")
			}
			// Something applied already, which must stay as it is.
			if _, err := cut.ctrl.Apply(ctx, Fault{Proxy: "redis", Kind: Latency, Latency: time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			for _, tt := range tests {
				before, err := cut.ctrl.Proxies(ctx)
				if err != nil {
					t.Fatal(err)
				}
				_, err = cut.ctrl.Apply(ctx, tt.fault)
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("%s: Apply error = %v, want a FieldError for %q containing %q", tt.name, err, tt.field, tt.msg)
				}
				after, err := cut.ctrl.Proxies(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(before, after); diff != "" {
					t.Errorf("%s: Apply of an invalid fault changed the proxies (-before +after):\n%s", tt.name, diff)
				}
			}
			if err := cut.ctrl.Remove(ctx, Applied{}); err == nil {
				t.Error("Remove(Applied{}) succeeded, want an error")
			}
		})
	}
}

// TestApplyAllOrNothingEmbedded makes the second toxic of a two-way fault
// fail (its name is taken) and checks that the first is removed again, and
// the toxic that took the name is left alone.
func TestApplyAllOrNothingEmbedded(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEmbedded(t, EmbeddedConfig{})
	addProxy(t, e, "redis", "127.0.0.1:1")
	e.eng.owner = Owner{RunID: "fixed", Expires: time.Unix(2000000000, 0)} // the next fault's toxics: flagstorm.fixed.2000000000.latency_{downstream,upstream}_1
	squatter := wireToxic{Name: "flagstorm.fixed.2000000000.latency_upstream_1", Type: "latency", Stream: "upstream", Toxicity: 1,
		Attributes: map[string]int64{"latency": 7}}
	if err := e.addToxic(ctx, "redis", squatter); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, e)

	_, err := e.Apply(ctx, Fault{Proxy: "redis", Kind: Latency, Latency: 100 * time.Millisecond, Direction: Both})
	if err == nil {
		t.Fatal("Apply succeeded although the upstream toxic's name was taken")
	}
	t.Logf("Apply: %v", err)
	if after := snapshot(t, e); after != before {
		t.Errorf("a failed Apply left changes:\nbefore %s\nafter  %s", before, after)
	}
}

// TestApplyAllOrNothingRemote fails the second toxic's request with a 502
// after the server did add it (an outcome the client cannot know) and
// checks that Apply removes both.
func TestApplyAllOrNothingRemote(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := newEmbedded(t, EmbeddedConfig{APIAddr: "127.0.0.1:0"})
	addProxy(t, srv, "redis", "127.0.0.1:1")
	target, err := url.Parse(srv.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var toxicPosts atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/toxics") && toxicPosts.Add(1) == 2 {
			// The server adds the toxic, but its answer is lost.
			rp.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	rem, err := NewRemote(RemoteConfig{URL: front.URL})
	if err != nil {
		t.Fatal(err)
	}

	_, err = rem.Apply(ctx, Fault{Proxy: "redis", Kind: Blackhole})
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("Apply through a gateway that fails the second toxic: %v, want the 502", err)
	}
	if n := toxicPosts.Load(); n != 2 {
		t.Errorf("%d toxic requests, want 2", n)
	}
	assertClean(t, srv)
}
