package rendezvous

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"
)

// Defaults applied when the corresponding Config field is zero.
const (
	DefaultTimeout   = 2 * time.Minute
	DefaultMargin    = time.Second
	DefaultExchanges = 8
)

// Config is one runner's part in a shared start.
type Config struct {
	// Addr is HOST:PORT: the leader listens there (bound exactly as
	// given; port 0 picks a free one, see Runner.Addr), the followers
	// connect to it. Required.
	Addr string
	// Segment is this runner's segment, canonical ("1/4:1/2"); required,
	// one of Segments.
	Segment string
	// Segments are the run's segments in order, one runner each,
	// canonical; the first starts at 0 and its runner is the leader.
	// Every runner must give the same list. Required.
	Segments []string
	// Scenario identifies the scenario (a hash of the file): the leader
	// refuses a runner with another. Required.
	Scenario string
	// Timeout is how long a runner waits, from Await, for every runner to
	// be in. Default DefaultTimeout (2 min).
	Timeout time.Duration
	// Margin is the least time between the leader's decision and the
	// start; the leader adds the largest round trip a follower measured.
	// Default DefaultMargin (1 s).
	Margin time.Duration
	// Exchanges is how many clock exchanges a follower makes. Default
	// DefaultExchanges (8).
	Exchanges int
	// Logger receives what happens (joins, refusals); nil discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Margin <= 0 {
		c.Margin = DefaultMargin
	}
	if c.Exchanges <= 0 {
		c.Exchanges = DefaultExchanges
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate reports every problem at once.
func (c Config) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("rendezvous address %q: want HOST:PORT (%v)", c.Addr, err))
	}
	switch {
	case len(c.Segments) == 0:
		errs = append(errs, errors.New("rendezvous: no segments"))
	case !slices.Contains(c.Segments, c.Segment):
		errs = append(errs, fmt.Errorf("rendezvous: segment %q is not one of the run's (%s)", c.Segment, strings.Join(c.Segments, ", ")))
	}
	for i, s := range c.Segments {
		if slices.Index(c.Segments, s) != i {
			errs = append(errs, fmt.Errorf("rendezvous: segment %s is in the run twice", s))
		}
	}
	if c.Scenario == "" {
		errs = append(errs, errors.New("rendezvous: no scenario hash"))
	}
	return errors.Join(errs...)
}

// Leader reports whether this runner leads: its segment is the first.
func (c Config) Leader() bool { return len(c.Segments) > 0 && c.Segment == c.Segments[0] }

// Start is the agreed start, as one runner sees it.
type Start struct {
	// At is the start on this runner's clock, with a monotonic reading:
	// wait until it, then start the load with At as its time zero.
	At time.Time
	// Leader is the same instant on the leader's clock: what it announced.
	Leader time.Time
	// Led is true for the leader.
	Led bool
	// Segment is this runner's segment; Runners how many there are.
	Segment string
	Runners int
	// Addr is the leader's address.
	Addr string
	// Skew is this runner's clock against the leader's; zero for the
	// leader itself.
	Skew Skew
	// Followers, for the leader only, are the other runners as they
	// joined, in segment order.
	Followers []Member
	// Margin is the time the leader left between its decision and the
	// start.
	Margin time.Duration
}

// Member is a follower as the leader saw it join.
type Member struct {
	Segment string
	// From is the follower's address as the leader saw it.
	From string
	Skew Skew
}

// Notes say, for the report, how the start was agreed and how far the
// clocks were apart.
func (s Start) Notes() []string {
	at := s.Leader.UTC().Format("15:04:05.000")
	if s.Led {
		notes := []string{fmt.Sprintf("shared start: this runner (segment %s) led %d runner(s) at %s; load started at %s UTC on its clock, %s after the last runner was in", s.Segment, s.Runners, s.Addr, at, s.Margin.Round(time.Millisecond))}
		for _, m := range s.Followers {
			notes = append(notes, fmt.Sprintf("shared start: runner of segment %s (from %s): clock offset to this one %s (least round trip of %d exchanges: %.3f ms)", m.Segment, m.From, m.Skew, m.Skew.Exchanges, ms(m.Skew.RTT)))
		}
		return notes
	}
	return []string{fmt.Sprintf("shared start: this runner (segment %s) followed the leader at %s (%d runners); load started at %s UTC on the leader's clock; clock offset to the leader %s (least round trip of %d exchanges: %.3f ms)",
		s.Segment, s.Addr, s.Runners, at, s.Skew, s.Skew.Exchanges, ms(s.Skew.RTT))}
}

// MissingError is a run that did not start: runners were missing when
// the timeout passed.
type MissingError struct {
	// Leader is the leader's address.
	Leader string
	// Segments are the segments no runner joined for; nil when a follower
	// never reached the leader (then Err says why), whose segment is
	// LeaderSegment.
	Segments      []string
	LeaderSegment string
	// Waited is the timeout.
	Waited time.Duration
	// Err is the last error talking to the leader (a follower's), if any.
	Err error
}

func (e *MissingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rendezvous at %s: the run did not start: after %s", e.Leader, e.Waited)
	switch {
	case len(e.Segments) > 0:
		fmt.Fprintf(&b, ", no runner for segment(s) %s had joined", strings.Join(e.Segments, ", "))
	default:
		fmt.Fprintf(&b, ", the leader (the runner of segment %s) had not answered", e.LeaderSegment)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " (last error: %v)", e.Err)
	}
	return b.String()
}

func (e *MissingError) Unwrap() error { return e.Err }

// RefusedError is a follower the leader would not take: its scenario,
// its sequence of segments or its segment does not fit the run.
type RefusedError struct {
	Leader string
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("rendezvous at %s: the leader refused this runner: %s", e.Leader, e.Reason)
}

// AbortedError is a follower whose leader gave up before the start
// (timed out, interrupted or stopped).
type AbortedError struct {
	Leader string
	Reason string
}

func (e *AbortedError) Error() string {
	return fmt.Sprintf("rendezvous at %s: the leader gave up, the run did not start: %s", e.Leader, e.Reason)
}

// Runner is one runner's side of the rendezvous: New binds the leader's
// address at once (so followers may connect while the leader's target
// starts), Await waits for the start, Close stops the leader's server.
type Runner struct {
	cfg    Config
	log    *slog.Logger
	id     string
	leader *leader // nil for a follower
}

// New checks cfg and, for the leader, binds its address and starts
// serving.
func New(cfg Config) (*Runner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &Runner{cfg: cfg, log: cfg.Logger.With("segment", cfg.Segment), id: randomID()}
	if cfg.Leader() {
		l, err := listen(cfg, r.log)
		if err != nil {
			return nil, err
		}
		r.leader = l
	}
	return r, nil
}

// Addr is the leader's address: the bound one for the leader (a port 0
// resolved), the configured one for a follower.
func (r *Runner) Addr() string {
	if r.leader != nil {
		return r.leader.addr()
	}
	return r.cfg.Addr
}

// Leader reports whether this runner leads.
func (r *Runner) Leader() bool { return r.leader != nil }

// Await reports this runner ready and blocks until every runner is,
// then returns the start. It returns a *MissingError when the timeout
// passes first, a *RefusedError or *AbortedError for a follower the
// leader refused or gave up on, and ctx's error when ctx ends.
func (r *Runner) Await(ctx context.Context) (Start, error) {
	if r.leader != nil {
		return r.leader.await(ctx)
	}
	return r.follow(ctx)
}

// Close stops the leader's server, after answering every waiting
// follower (with the start, or that the leader gave up). A follower's
// Close does nothing.
func (r *Runner) Close(ctx context.Context) error {
	if r.leader == nil {
		return nil
	}
	return r.leader.close(ctx)
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
