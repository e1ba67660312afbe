package rendezvous

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/freeport"
	"github.com/flagstorm/flagstorm/internal/testenv"
)

var quarters = []string{"0:1/4", "1/4:1/2", "1/2:3/4", "3/4:1"}

const scenario = "sha256:aaaa"

func config(addr, segment string) Config {
	return Config{Addr: addr, Segment: segment, Segments: quarters, Scenario: scenario, Timeout: 30 * time.Second, Margin: 200 * time.Millisecond}
}

func newRunner(t *testing.T, cfg Config) *Runner {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return r
}

type result struct {
	start Start
	err   error
}

// awaitAll runs Await of each runner on its own goroutine and returns
// the results in the same order.
func awaitAll(ctx context.Context, rs ...*Runner) []result {
	out := make([]result, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() { out[i].start, out[i].err = r.Await(ctx) })
	}
	wg.Wait()
	return out
}

// Four runners over real loopback HTTP, the followers waiting before the
// leader is ready: all get one start, each on its own clock, with its
// measured offset inside its uncertainty (one machine: the true offset is
// 0), and the leader knows every follower.
func TestSharedStart(t *testing.T) {
	leader := newRunner(t, config("127.0.0.1:0", quarters[0]))
	if !leader.Leader() {
		t.Fatal("the runner of 0:1/4 does not lead")
	}
	var followers []*Runner
	for _, s := range quarters[1:] {
		followers = append(followers, newRunner(t, config(leader.Addr(), s)))
	}
	res := awaitAll(t.Context(), append([]*Runner{leader}, followers...)...)
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("runner %d: %v", i, r.err)
		}
	}
	lead := res[0].start
	if !lead.Led || lead.Runners != 4 || lead.Segment != "0:1/4" || len(lead.Followers) != 3 {
		t.Fatalf("leader's start: %+v", lead)
	}
	if lead.Margin < 200*time.Millisecond {
		t.Errorf("margin %s, want at least the configured 200ms", lead.Margin)
	}
	for i, r := range res[1:] {
		st := r.start
		if st.Led || st.Segment != quarters[i+1] || st.Runners != 4 || st.Addr != leader.Addr() {
			t.Errorf("follower %d: %+v", i+1, st)
		}
		if !st.Leader.Equal(lead.Leader) {
			t.Errorf("follower %s starts at %s on the leader's clock, the leader at %s", st.Segment, st.Leader, lead.Leader)
		}
		// At is the leader's start moved by the offset, exactly.
		if got := st.At.Round(0).Add(st.Skew.Offset); !got.Equal(lead.Leader) {
			t.Errorf("follower %s: At + offset = %s, want the leader's start %s", st.Segment, got, lead.Leader)
		}
		if k := st.Skew; k.Exchanges != DefaultExchanges || k.Offset < -k.Uncertainty || k.Offset > k.Uncertainty {
			t.Errorf("follower %s: skew %+v: on one machine the offset must lie within its uncertainty", st.Segment, k)
		}
		if m := lead.Followers[i]; m.Segment != st.Segment || m.Skew != st.Skew || m.From == "" {
			t.Errorf("the leader saw follower %d as %+v, it measured %+v", i+1, m, st.Skew)
		}
		if notes := st.Notes(); len(notes) != 1 || !strings.Contains(notes[0], "clock offset to the leader "+st.Skew.String()) {
			t.Errorf("follower notes: %q", notes)
		}
	}
	if notes := lead.Notes(); len(notes) != 4 || !strings.Contains(notes[0], "led 4 runner(s)") || !strings.Contains(notes[3], "segment 3/4:1") {
		t.Errorf("leader notes: %q", notes)
	}
}

// A follower started before the leader listens keeps trying until it
// answers.
func TestFollowerBeforeLeader(t *testing.T) {
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	segs := []string{"0:1/2", "1/2:1"}
	cfg := func(s string) Config {
		return Config{Addr: addr, Segment: s, Segments: segs, Scenario: scenario, Timeout: 30 * time.Second, Margin: 100 * time.Millisecond}
	}
	follower := newRunner(t, cfg("1/2:1"))
	done := make(chan result, 1)
	go func() {
		st, err := follower.Await(t.Context())
		done <- result{st, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("the follower returned with no leader: %+v %v", r.start, r.err)
	default:
	}
	leader := newRunner(t, cfg("0:1/2"))
	lead, err := leader.Await(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !r.start.Leader.Equal(lead.Leader) {
		t.Errorf("follower starts at %s, leader at %s", r.start.Leader, lead.Leader)
	}
}

// The leader refuses a runner that does not fit, saying why; the run
// still starts once the right runners are in.
func TestRefused(t *testing.T) {
	leader := newRunner(t, config("127.0.0.1:0", quarters[0]))
	tests := []struct {
		name string
		cfg  func(c *Config)
		want string
	}{
		{"another scenario", func(c *Config) { c.Scenario = "sha256:bbbb" }, "another scenario (sha256:bbbb) than the leader (sha256:aaaa)"},
		{"another sequence", func(c *Config) { c.Segments, c.Segment = []string{"0:1/2", "1/2:1"}, "1/2:1" }, "are not the leader's"},
		{"the leader's segment", func(c *Config) { c.Segment = quarters[0] }, "segment 0:1/4 is the leader's own"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(leader.Addr(), quarters[1])
			tt.cfg(&cfg)
			// Not New: it would make the runner of 0:1/4 a second leader.
			cfg = cfg.withDefaults()
			r := &Runner{cfg: cfg, log: cfg.Logger, id: randomID()}
			_, err := r.Await(t.Context())
			checkRefused(t, err, tt.want)
		})
	}
	t.Run("a segment taken", func(t *testing.T) {
		first := newRunner(t, config(leader.Addr(), quarters[1]))
		joined := make(chan result, 1)
		go func() {
			st, err := first.Await(t.Context())
			joined <- result{st, err}
		}()
		// Join the second once the first is in.
		testenv.Poll(t, 10*time.Second, "the first runner of 1/4:1/2 joins", func() error {
			if !leader.leader.has(quarters[1]) {
				return errors.New("not yet")
			}
			return nil
		})
		_, err := newRunner(t, config(leader.Addr(), quarters[1])).Await(t.Context())
		checkRefused(t, err, "segment 1/4:1/2 is already taken by the runner from 127.0.0.1:")

		rest := []*Runner{leader}
		for _, s := range quarters[2:] {
			rest = append(rest, newRunner(t, config(leader.Addr(), s)))
		}
		for i, r := range awaitAll(t.Context(), rest...) {
			if r.err != nil {
				t.Errorf("runner %d: %v", i, r.err)
			}
		}
		if r := <-joined; r.err != nil {
			t.Errorf("the first runner of 1/4:1/2: %v", r.err)
		}
	})
}

func checkRefused(t *testing.T, err error, want string) {
	t.Helper()
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a *RefusedError", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to say %q", err, want)
	}
}

// A runner missing at the timeout: the run does not start; the leader
// names the missing segments, and so does the follower that waited.
func TestMissingRunners(t *testing.T) {
	cfg := func(addr, s string) Config {
		c := config(addr, s)
		c.Timeout = 500 * time.Millisecond
		return c
	}
	leader := newRunner(t, cfg("127.0.0.1:0", quarters[0]))
	f1 := newRunner(t, cfg(leader.Addr(), quarters[1]))
	res := awaitAll(t.Context(), leader, f1)
	var me *MissingError
	if !errors.As(res[0].err, &me) {
		t.Fatalf("leader: err = %v, want a *MissingError", res[0].err)
	}
	if got := strings.Join(me.Segments, " "); got != "1/2:3/4 3/4:1" {
		t.Errorf("leader: missing %q, want 1/2:3/4 3/4:1", got)
	}
	if !strings.Contains(me.Error(), "no runner for segment(s) 1/2:3/4, 3/4:1 had joined") {
		t.Errorf("leader: %v", me)
	}
	// The follower learns it from the leader's answer (it gave up) or
	// from its own timeout: either way it names the segments.
	if err := res[1].err; err == nil || !strings.Contains(err.Error(), "1/2:3/4, 3/4:1") {
		t.Errorf("follower: err = %v, want it to name 1/2:3/4, 3/4:1", err)
	}
}

// A follower whose leader never answers says so.
func TestNoLeader(t *testing.T) {
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	c := config(addr, quarters[2])
	c.Timeout = 300 * time.Millisecond
	_, err = newRunner(t, c).Await(t.Context())
	var me *MissingError
	if !errors.As(err, &me) || me.Segments != nil || me.Err == nil {
		t.Fatalf("err = %#v, want a *MissingError with no segments and the last error", err)
	}
	if !strings.Contains(err.Error(), "the leader (the runner of segment 0:1/4) had not answered") {
		t.Errorf("err = %v", err)
	}
}

// An interrupted leader tells its waiting followers.
func TestLeaderInterrupted(t *testing.T) {
	leader := newRunner(t, config("127.0.0.1:0", quarters[0]))
	ctx, cancel := context.WithCancel(t.Context())
	f1 := newRunner(t, config(leader.Addr(), quarters[1]))
	done := make(chan error, 1)
	go func() {
		_, err := f1.Await(t.Context())
		done <- err
	}()
	go func() {
		// Interrupt the leader once the follower is in.
		for {
			if leader.leader.has(quarters[1]) {
				cancel()
				return
			}
			select {
			case <-t.Context().Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	if _, err := leader.Await(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("leader: err = %v, want context.Canceled", err)
	}
	var ae *AbortedError
	if err := <-done; !errors.As(err, &ae) || !strings.Contains(err.Error(), "the leader was interrupted") {
		t.Errorf("follower: err = %v, want an *AbortedError saying the leader was interrupted", err)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no address", Config{Segment: "0:1", Segments: []string{"0:1"}, Scenario: "x"}, []string{`rendezvous address ""`}},
		{"segment not in the run", Config{Addr: "127.0.0.1:1", Segment: "0:1/3", Segments: quarters, Scenario: "x"}, []string{"segment \"0:1/3\" is not one of the run's"}},
		{"everything", Config{Addr: "nohost", Segments: []string{"0:1/2", "0:1/2"}}, []string{"want HOST:PORT", "is in the run twice", "no scenario hash", "is not one of the run's"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to say %q", err, w)
				}
			}
		})
	}
}

// has reports whether a runner of segment has joined.
func (l *leader) has(segment string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.joined[segment]
	return ok
}
