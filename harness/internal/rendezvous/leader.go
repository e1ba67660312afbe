package rendezvous

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// pollHold is how long the leader holds a follower's GET /v1/start
// before answering that runners are still missing.
const pollHold = 5 * time.Second

// answer is every JSON answer of the API; fields are set as the endpoint
// needs.
type answer struct {
	Now     int64    `json:"now_unix_nano,omitempty"`
	Start   int64    `json:"start_unix_nano,omitempty"`
	Margin  int64    `json:"margin_ns,omitempty"`
	Runners int      `json:"runners,omitempty"`
	Missing []string `json:"missing,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// joinRequest is a follower registering.
type joinRequest struct {
	ID          string   `json:"id"`
	Segment     string   `json:"segment"`
	Segments    []string `json:"segments"`
	Scenario    string   `json:"scenario"`
	Offset      int64    `json:"offset_ns"`
	Uncertainty int64    `json:"uncertainty_ns"`
	RTT         int64    `json:"rtt_ns"`
	Exchanges   int      `json:"exchanges"`
}

func (j joinRequest) skew() Skew {
	return Skew{Offset: time.Duration(j.Offset), Uncertainty: time.Duration(j.Uncertainty), RTT: time.Duration(j.RTT), Exchanges: j.Exchanges}
}

// leader serves the API and decides the start.
type leader struct {
	cfg  Config
	log  *slog.Logger
	ln   net.Listener
	srv  *http.Server
	done chan struct{} // closed when Serve has returned

	mu      sync.Mutex
	joined  map[string]joined // by segment
	refused []string          // why runners were refused, for the timeout's error
	changed chan struct{}     // closed and replaced at every join
	decided chan struct{}     // closed once start or failure is set
	start   time.Time         // on the leader's clock (wall); zero until decided
	margin  time.Duration
	failure string // why the leader gave up; "" unless it did
}

type joined struct {
	id     string
	member Member
}

func listen(cfg Config, log *slog.Logger) (*leader, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("rendezvous: listen on %s (this runner leads: its segment %s starts at 0): %w", cfg.Addr, cfg.Segment, err)
	}
	l := &leader{
		cfg: cfg, log: log, ln: ln, done: make(chan struct{}),
		joined: map[string]joined{}, changed: make(chan struct{}), decided: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/clock", l.clock)
	mux.HandleFunc("POST /v1/join", l.join)
	mux.HandleFunc("GET /v1/start", l.wait)
	l.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      pollHold + 10*time.Second,
		IdleTimeout:       time.Minute,
	}
	go func() {
		defer close(l.done)
		_ = l.srv.Serve(ln) // ErrServerClosed after close
	}()
	log.Info("rendezvous: leading", "addr", l.addr(), "runners", len(cfg.Segments))
	return l, nil
}

func (l *leader) addr() string { return l.ln.Addr().String() }

// await marks the leader ready and waits for every follower.
func (l *leader) await(ctx context.Context) (Start, error) {
	timer := time.NewTimer(l.cfg.Timeout)
	defer timer.Stop()
	for {
		l.mu.Lock()
		if l.failure != "" {
			reason := l.failure
			l.mu.Unlock()
			return Start{}, fmt.Errorf("rendezvous at %s: %s", l.addr(), reason)
		}
		missing, changed := l.missingLocked(), l.changed
		if len(missing) == 0 {
			st := l.decideLocked()
			l.mu.Unlock()
			l.log.Info("rendezvous: every runner is in", "start", st.Leader, "margin", st.Margin)
			return st, nil
		}
		l.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			l.mu.Lock()
			err := &MissingError{Leader: l.addr(), Segments: l.missingLocked(), Waited: l.cfg.Timeout}
			if len(l.refused) > 0 {
				err.Err = fmt.Errorf("refused: %s", strings.Join(l.refused, "; "))
			}
			l.giveUpLocked(err.Error())
			l.mu.Unlock()
			return Start{}, err
		case <-ctx.Done():
			l.mu.Lock()
			l.giveUpLocked("the leader was interrupted")
			l.mu.Unlock()
			return Start{}, ctx.Err()
		}
	}
}

// missingLocked lists the followers' segments not joined yet, in order.
func (l *leader) missingLocked() []string {
	var out []string
	for _, s := range l.cfg.Segments[1:] {
		if _, ok := l.joined[s]; !ok {
			out = append(out, s)
		}
	}
	return out
}

// decideLocked picks the start: now plus the margin plus the largest
// round trip a follower measured (its answer travels half of one; the
// rest covers a follower between two polls).
func (l *leader) decideLocked() Start {
	var rtt time.Duration
	followers := make([]Member, 0, len(l.joined))
	for _, s := range l.cfg.Segments[1:] {
		m := l.joined[s].member
		rtt = max(rtt, m.Skew.RTT)
		followers = append(followers, m)
	}
	l.margin = l.cfg.Margin + rtt
	at := time.Now().Add(l.margin)
	l.start = at.Round(0)
	close(l.decided)
	return Start{At: at, Leader: l.start, Led: true, Segment: l.cfg.Segment, Runners: len(l.cfg.Segments), Addr: l.addr(), Followers: followers, Margin: l.margin}
}

// giveUpLocked ends the rendezvous without a start (a no-op once
// decided): every waiting follower is told reason.
func (l *leader) giveUpLocked(reason string) {
	if l.failure != "" || !l.start.IsZero() {
		return
	}
	l.failure = reason
	close(l.decided)
}

func (l *leader) close(ctx context.Context) error {
	l.mu.Lock()
	l.giveUpLocked("the leader stopped before every runner was in")
	l.mu.Unlock()
	err := l.srv.Shutdown(ctx)
	<-l.done
	return err
}

func (l *leader) clock(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, answer{Now: time.Now().UnixNano()})
}

func (l *leader) join(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, answer{Error: "bad join request: " + err.Error()})
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failure != "" {
		writeJSON(w, http.StatusGone, answer{Error: l.failure})
		return
	}
	if reason := l.refuseLocked(req); reason != "" {
		l.refused = append(l.refused, fmt.Sprintf("a runner from %s for segment %s: %s", r.RemoteAddr, req.Segment, reason))
		l.log.Warn("rendezvous: runner refused", "from", r.RemoteAddr, "segment", req.Segment, "reason", reason)
		writeJSON(w, http.StatusConflict, answer{Error: reason})
		return
	}
	if _, again := l.joined[req.Segment]; !again {
		m := Member{Segment: req.Segment, From: r.RemoteAddr, Skew: req.skew()}
		l.joined[req.Segment] = joined{id: req.ID, member: m}
		close(l.changed)
		l.changed = make(chan struct{})
		l.log.Info("rendezvous: runner joined", "from", m.From, "segment", m.Segment, "offset", m.Skew.Offset, "uncertainty", m.Skew.Uncertainty)
	}
	writeJSON(w, http.StatusOK, answer{Runners: len(l.cfg.Segments), Missing: l.missingLocked()})
}

// refuseLocked says why req does not fit the run, or "".
func (l *leader) refuseLocked(req joinRequest) string {
	cfg := l.cfg
	switch {
	case req.ID == "":
		return "the join request has no runner id"
	case req.Scenario != cfg.Scenario:
		return fmt.Sprintf("it runs another scenario (%s) than the leader (%s): every runner must be given the same file", req.Scenario, cfg.Scenario)
	case !slices.Equal(req.Segments, cfg.Segments):
		return fmt.Sprintf("its segments (%s) are not the leader's (%s): give every runner the same --segment-sequence, or the same --runners", strings.Join(req.Segments, ", "), strings.Join(cfg.Segments, ", "))
	case req.Segment == cfg.Segments[0]:
		return fmt.Sprintf("segment %s is the leader's own: two runners were given it", req.Segment)
	case !slices.Contains(cfg.Segments, req.Segment):
		return fmt.Sprintf("segment %s is not one of the run's (%s)", req.Segment, strings.Join(cfg.Segments, ", "))
	}
	if j, ok := l.joined[req.Segment]; ok && j.id != req.ID {
		return fmt.Sprintf("segment %s is already taken by the runner from %s: two runners were given it", req.Segment, j.member.From)
	}
	return ""
}

// wait is the long poll for the start.
func (l *leader) wait(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	l.mu.Lock()
	known := false
	for _, j := range l.joined {
		known = known || id != "" && j.id == id
	}
	decided := l.decided
	l.mu.Unlock()
	if !known {
		writeJSON(w, http.StatusNotFound, answer{Error: "no runner with this id has joined: POST /v1/join first"})
		return
	}
	t := time.NewTimer(pollHold)
	defer t.Stop()
	select {
	case <-decided:
		l.mu.Lock()
		failure, start, margin := l.failure, l.start, l.margin
		l.mu.Unlock()
		if failure != "" {
			writeJSON(w, http.StatusGone, answer{Error: failure})
			return
		}
		writeJSON(w, http.StatusOK, answer{Start: start.UnixNano(), Margin: int64(margin), Runners: len(l.cfg.Segments)})
	case <-t.C:
		l.mu.Lock()
		missing := l.missingLocked()
		l.mu.Unlock()
		writeJSON(w, http.StatusAccepted, answer{Runners: len(l.cfg.Segments), Missing: missing})
	case <-r.Context().Done():
	}
}

func writeJSON(w http.ResponseWriter, status int, a answer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}

// errStatus is an answer the follower did not expect.
var errStatus = errors.New("rendezvous: unexpected answer")
