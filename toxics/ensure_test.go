package toxics

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/flagstorm/flagstorm/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// remotes returns Remote controllers for the servers the Remote-only
// tests run against: an embedded server's API and a real toxiproxy-server.
func remotes(t *testing.T) []struct {
	name string
	rem  *Remote
} {
	t.Helper()
	srv := newEmbedded(t, EmbeddedConfig{APIAddr: "127.0.0.1:0"})
	var out []struct {
		name string
		rem  *Remote
	}
	for _, s := range []struct{ name, url string }{
		{"embedded API", srv.APIURL()},
		{"toxiproxy-server", testenv.ExternalToxiproxy(t).URL()},
	} {
		rem, err := NewRemote(RemoteConfig{URL: s.url})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, struct {
			name string
			rem  *Remote
		}{s.name, rem})
	}
	return out
}

// TestRemoteEnsureProxy checks that EnsureProxy creates a missing proxy,
// returns an existing one untouched whatever its settings, and rejects bad
// arguments without creating anything.
func TestRemoteEnsureProxy(t *testing.T) {
	t.Parallel()
	for _, cut := range remotes(t) {
		t.Run(cut.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			rem := cut.rem

			if _, err := rem.Proxy(ctx, "redis"); !errors.Is(err, ErrProxyNotFound) {
				t.Fatalf("Proxy of a missing proxy: %v, want ErrProxyNotFound", err)
			}

			// Absent: created, listening on a real port.
			created, err := rem.EnsureProxy(ctx, "redis", "127.0.0.1:0", "127.0.0.1:1")
			if err != nil {
				t.Fatal(err)
			}
			if created.Name != "redis" || created.Upstream != "127.0.0.1:1" || !created.Enabled ||
				!strings.HasPrefix(created.Listen, "127.0.0.1:") || created.Listen == "127.0.0.1:0" {
				t.Fatalf("EnsureProxy of a missing proxy = %+v", created)
			}
			if got, err := rem.Proxy(ctx, "redis"); err != nil || !cmp.Equal(got, created) {
				t.Errorf("Proxy after EnsureProxy = %+v, %v, want %+v", got, err, created)
			}

			// Present, with other settings, a toxic and disabled: returned
			// as it is, and left so.
			a, err := rem.Apply(ctx, Fault{Proxy: "redis", Kind: Refused})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rem.Apply(ctx, Fault{Proxy: "redis", Kind: Blackhole, Direction: Upstream}); err != nil {
				t.Fatal(err)
			}
			before, err := rem.Proxies(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rem.EnsureProxy(ctx, "redis", "127.0.0.1:0", "127.0.0.1:2")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, []ProxyInfo{got}); diff != "" {
				t.Errorf("EnsureProxy of an existing proxy (-want +got):\n%s", diff)
			}
			after, err := rem.Proxies(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("EnsureProxy of an existing proxy changed the server (-before +after):\n%s", diff)
			}
			if err := rem.Remove(ctx, a); err != nil {
				t.Fatal(err)
			}

			// Bad arguments: nothing created.
			for _, args := range [][3]string{
				{"", "127.0.0.1:0", "127.0.0.1:1"},
				{"bad-listen", "127.0.0.1", "127.0.0.1:1"},
				{"bad-upstream", "127.0.0.1:0", ":6379"},
			} {
				if p, err := rem.EnsureProxy(ctx, args[0], args[1], args[2]); err == nil {
					t.Errorf("EnsureProxy%q = %+v, want an error", args, p)
				}
			}
			if ps, err := rem.Proxies(ctx); err != nil || len(ps) != 1 {
				t.Errorf("after EnsureProxy with bad arguments: %+v, %v, want only redis", ps, err)
			}
		})
	}
}

// TestRemoteEnsureProxyConcurrent has several callers ensure the same
// missing proxy at once: all get the one proxy that exists.
func TestRemoteEnsureProxyConcurrent(t *testing.T) {
	t.Parallel()
	for _, cut := range remotes(t) {
		t.Run(cut.name, func(t *testing.T) {
			t.Parallel()
			const callers = 8
			got := make([]ProxyInfo, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					var err error
					got[i], err = cut.rem.EnsureProxy(t.Context(), "postgres", "127.0.0.1:0", "127.0.0.1:1")
					if err != nil {
						t.Errorf("caller %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			ps, err := cut.rem.Proxies(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 1 {
				t.Fatalf("proxies after concurrent EnsureProxy: %+v, want one", ps)
			}
			for i, p := range got {
				if diff := cmp.Diff(ps[0], p); diff != "" {
					t.Errorf("caller %d got another proxy (-server +got):\n%s", i, diff)
				}
			}
		})
	}
}
