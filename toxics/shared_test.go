package toxics

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

// A Remote's server is shared: other people's toxics and disabled
// proxies, and the unexpired faults of other flagstorm runs, survive a
// run's Begin and Cleanup; the run's own faults, and those of a run that
// died and whose expiry has passed, do not. Every check that something
// survives fails if the session resets the whole server (POST /reset).

// sharedRig is a real toxiproxy-server with the proxies named, in front
// of an address nobody dials, and a Remote on it with the owner given
// (zero: a fresh run id and the default lease).
func sharedRig(t *testing.T, proxies ...string) (url string) {
	t.Helper()
	tp := testenv.ExternalToxiproxy(t)
	admin := remoteAs(t, tp.URL(), Owner{})
	for _, name := range proxies {
		if _, err := admin.EnsureProxy(t.Context(), name, "127.0.0.1:0", "127.0.0.1:1"); err != nil {
			t.Fatal(err)
		}
	}
	return tp.URL()
}

// remoteAs returns a Remote on url whose faults belong to o.
func remoteAs(t *testing.T, url string, o Owner) *Remote {
	t.Helper()
	r, err := NewRemote(RemoteConfig{URL: url, Owner: o})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// state describes every proxy: "name enabled=B [toxic names, sorted]".
func state(t *testing.T, c Controller) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 5*time.Second)
	defer cancel()
	ps, err := c.Proxies(ctx)
	if err != nil {
		t.Fatalf("Proxies: %v", err)
	}
	out := map[string]string{}
	for _, p := range ps {
		var names []string
		for _, tx := range p.Toxics {
			names = append(names, tx.Name)
		}
		slices.Sort(names)
		out[p.Name] = fmt.Sprintf("enabled=%v %s", p.Enabled, strings.Join(names, " "))
	}
	return out
}

// mustApply applies f through c.
func mustApply(t *testing.T, c Controller, f Fault) Applied {
	t.Helper()
	a, err := c.Apply(t.Context(), f)
	if err != nil {
		t.Fatalf("Apply(%v): %v", f, err)
	}
	return a
}

func TestSharedToxiproxyForeignFaultsSurvive(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := sharedRig(t, "redis", "postgres", "redis-replica")
	other := remoteAs(t, url, Owner{})
	// Someone else's toxic, and a toxic named as flagstorm named them
	// before toxics carried an owner: neither is ours to remove.
	for _, name := range []string{"someones_latency", "flagstorm_latency_downstream_a1b2c3_1"} {
		if err := other.addToxic(ctx, "redis", wireToxic{Name: name, Type: "latency", Stream: "downstream", Toxicity: 1,
			Attributes: map[string]int64{"latency": 5}}); err != nil {
			t.Fatal(err)
		}
	}
	// Someone else's disabled proxy, with no marker.
	if err := other.setEnabled(ctx, "postgres", false); err != nil {
		t.Fatal(err)
	}
	foreign := state(t, other)

	ours := remoteAs(t, url, Owner{})
	s := NewSession(ours, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err := s.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	if got := state(t, ours); !mapsEqual(got, foreign) {
		t.Fatalf("Begin changed what is not flagstorm's:\nbefore %v\nafter  %v", foreign, got)
	}
	lat, err := s.Apply(ctx, Fault{Proxy: "redis", Kind: Latency, Latency: 10 * time.Millisecond, Direction: Both})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.Apply(ctx, Fault{Proxy: "redis-replica", Kind: Refused})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append(slices.Clone(lat.Toxics), ref.Marker) {
		if o, _, ok := ParseToxicName(name); !ok || o.RunID != ours.Owner().RunID {
			t.Errorf("toxic %q does not carry the run id %s", name, ours.Owner().RunID)
		}
	}
	if st := state(t, ours)["redis-replica"]; !strings.HasPrefix(st, "enabled=false flagstorm.") {
		t.Errorf("redis-replica after a refused fault: %s, want disabled with a marker", st)
	}
	// A fault whose Remove is lost (the run forgot it): Cleanup's sweep
	// removes it because it carries the run id.
	mustApply(t, ours, Fault{Proxy: "postgres", Kind: Blackhole})

	if err := s.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if got := state(t, ours); !mapsEqual(got, foreign) {
		t.Errorf("after Cleanup (-want +got):\nwant %v\ngot  %v", foreign, got)
	}
}

func TestSharedToxiproxyExpiredRemovedLiveKept(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := sharedRig(t, "redis", "postgres", "redis-replica", "cache2")
	// A run that died (SIGKILL: no cleanup) and whose expiry has passed,
	// and a run still going, each with a toxic and a disabled proxy.
	dead := remoteAs(t, url, Owner{RunID: "deadrun", Expires: time.Now().Add(-time.Minute)})
	live := remoteAs(t, url, Owner{RunID: "liverun", Expires: time.Now().Add(time.Hour)})
	deadLat := mustApply(t, dead, Fault{Proxy: "redis", Kind: Latency, Latency: 10 * time.Millisecond})
	mustApply(t, dead, Fault{Proxy: "redis-replica", Kind: Refused})
	liveLat := mustApply(t, live, Fault{Proxy: "redis", Kind: Latency, Latency: 20 * time.Millisecond})
	liveRef := mustApply(t, live, Fault{Proxy: "cache2", Kind: Refused})
	// The dead run's marker on a proxy the live run disabled (the live
	// run enabled and disabled it again since): the proxy stays disabled.
	if err := dead.addToxic(ctx, "cache2", dead.eng.marker(99)); err != nil {
		t.Fatal(err)
	}

	ours := remoteAs(t, url, Owner{})
	s := NewSession(ours, slog.New(slog.NewTextHandler(t.Output(), nil)))
	want := map[string]string{
		"redis":         "enabled=true " + liveLat.Toxics[0],
		"postgres":      "enabled=true ",
		"redis-replica": "enabled=true ",
		"cache2":        "enabled=false " + liveRef.Marker,
	}
	if err := s.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	got := state(t, ours)
	if !mapsEqual(got, want) {
		t.Fatalf("after Begin:\nwant %v\ngot  %v", want, got)
	}
	if strings.Contains(fmt.Sprint(got), deadLat.Toxics[0]) {
		t.Errorf("the dead run's toxic %s survived", deadLat.Toxics[0])
	}
	mustApply(t, ours, Fault{Proxy: "postgres", Kind: Refused})
	if err := s.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if got := state(t, ours); !mapsEqual(got, want) {
		t.Errorf("after Cleanup:\nwant %v\ngot  %v", want, got)
	}
}

// TestSharedToxiproxyKilledRunSweptAfterExpiry: a run is killed (its
// controller abandoned with its faults on); the next run leaves them
// while they are unexpired, and removes them once they are.
func TestSharedToxiproxyKilledRunSweptAfterExpiry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := sharedRig(t, "redis", "postgres")
	killed := remoteAs(t, url, Owner{RunID: "killed", Expires: time.Now().Add(2 * time.Second)})
	lat := mustApply(t, killed, Fault{Proxy: "redis", Kind: Latency, Latency: 10 * time.Millisecond})
	ref := mustApply(t, killed, Fault{Proxy: "postgres", Kind: Refused})
	left := map[string]string{"redis": "enabled=true " + lat.Toxics[0], "postgres": "enabled=false " + ref.Marker}

	next := remoteAs(t, url, Owner{})
	s := NewSession(next, nil)
	if err := s.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	if got := state(t, next); !mapsEqual(got, left) {
		t.Fatalf("Begin removed the unexpired faults of another run:\nwant %v\ngot  %v", left, got)
	}
	// A later run, after the expiry.
	testenv.Poll(t, 10*time.Second, "the killed run's expiry", func() error {
		if !killed.Owner().Expired(time.Now()) {
			return fmt.Errorf("expires at %v", killed.Owner().Expires)
		}
		return nil
	})
	later := NewSession(remoteAs(t, url, Owner{}), nil)
	if err := later.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	assertClean(t, next)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || strings.TrimSpace(w) != strings.TrimSpace(v) {
			return false
		}
	}
	return true
}
