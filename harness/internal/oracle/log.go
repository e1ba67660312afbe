package oracle

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Label is what a read is counted under: the recorder's tags of the
// request that made it. A kept read carries it, so that a judgement of
// several runners' reads together (Judge) counts each stale read under
// the tags the runner would have.
type Label struct {
	Scenario string `json:"scenario,omitempty"`
	Name     string `json:"name,omitempty"`
	Phase    string `json:"phase,omitempty"`
	Source   string `json:"source,omitempty"`
}

// Log is what an oracle saw, for judging the reads of several runners
// (each a segment of one run, with its own oracle) against the writes of
// all of them: a runner sees only its own writes, and a read it judged
// fresh may be older than a write another runner had acknowledged.
type Log struct {
	Field Field `json:"field"`
	// Writes are every acknowledged write, in the order of their
	// acknowledgement.
	Writes []LoggedWrite `json:"writes"`
	// Kept is true when the oracle kept its reads (Keep): Reads is then
	// all of them. Without it, this runner's reads cannot be judged
	// against other runners' writes.
	Kept bool `json:"kept"`
	// Base is the time Reads' times count from.
	Base  time.Time `json:"base"`
	Reads []Reads   `json:"reads,omitempty"`
}

// LoggedWrite is one acknowledged write: the flag, its field's value and
// when it was sent and acknowledged.
type LoggedWrite struct {
	Env    string    `json:"env"`
	Key    string    `json:"key"`
	Marker string    `json:"marker"`
	Sent   time.Time `json:"sent"`
	Acked  time.Time `json:"acked"`
}

// Reads are the reads that returned one value of one flag under one
// label: Began holds when each began, in microseconds since the log's
// Base, as successive differences in signed varints (encoding/binary's
// AppendVarint), base64: a read of a hundred flags costs a few bytes
// per flag.
type Reads struct {
	Env    string `json:"env"`
	Key    string `json:"key"`
	Marker string `json:"marker"`
	Label  Label  `json:"label"`
	N      int    `json:"n"`
	Began  string `json:"began"`
}

// keptKey is one group of kept reads.
type keptKey struct {
	env, key, marker string
	label            Label
}

// keptReads are the begin times of one group, encoded as Reads.Began.
type keptReads struct {
	n    int
	last int64 // µs since base of the last one
	buf  []byte
}

// keeper holds the reads an oracle keeps.
type keeper struct {
	mu    sync.Mutex
	base  time.Time
	reads map[keptKey]*keptReads
}

// Keep makes the oracle keep every read given to ReadAs from now on,
// times counted from base (the run's start), for Log. Call it before the
// first read.
func (o *Oracle) Keep(base time.Time) {
	o.keep = &keeper{base: base, reads: map[keptKey]*keptReads{}}
}

// ReadAs is Read, and with Keep it also keeps which value of each flag
// the read returned, when it began and under which label. A kept read is
// decoded even before the first write is acknowledged here (another
// runner's write may be older).
func (o *Oracle) ReadAs(body []byte, began, done time.Time, l Label) ([]Stale, []NonMonotonic) {
	if o.keep == nil {
		return o.Read(body, began, done)
	}
	docs := o.decode(body)
	o.keep.add(docs, began, l)
	o.mu.RLock()
	defer o.mu.RUnlock()
	if len(o.writes) == 0 {
		return nil, nil
	}
	return o.stale(docs, began), o.monotonic(docs, began, done)
}

func (k *keeper) add(docs []doc, began time.Time, l Label) {
	us := int64(began.Sub(k.base) / time.Microsecond)
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, d := range docs {
		kk := keptKey{d.env, d.key, d.marker, l}
		g := k.reads[kk]
		if g == nil {
			g = &keptReads{}
			k.reads[kk] = g
		}
		g.buf = binary.AppendVarint(g.buf, us-g.last)
		g.last = us
		g.n++
	}
}

// Log returns what the oracle saw: every acknowledged write and, with
// Keep, every read kept, in a stable order.
func (o *Oracle) Log() Log {
	l := Log{Field: o.field}
	o.mu.RLock()
	for k, ws := range o.writes {
		for _, w := range ws {
			l.Writes = append(l.Writes, LoggedWrite{Env: k.env, Key: k.key, Marker: w.marker, Sent: w.sent, Acked: w.acked})
		}
	}
	o.mu.RUnlock()
	slices.SortStableFunc(l.Writes, func(a, b LoggedWrite) int {
		return cmp.Or(a.Acked.Compare(b.Acked), cmp.Compare(a.Env, b.Env), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Marker, b.Marker))
	})
	if o.keep == nil {
		return l
	}
	k := o.keep
	k.mu.Lock()
	l.Kept, l.Base = true, k.base
	for kk, g := range k.reads {
		l.Reads = append(l.Reads, Reads{Env: kk.env, Key: kk.key, Marker: kk.marker, Label: kk.label, N: g.n, Began: base64.StdEncoding.EncodeToString(g.buf)})
	}
	k.mu.Unlock()
	slices.SortFunc(l.Reads, func(a, b Reads) int {
		return cmp.Or(cmp.Compare(a.Env, b.Env), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Marker, b.Marker),
			cmp.Compare(a.Label.Scenario, b.Label.Scenario), cmp.Compare(a.Label.Name, b.Label.Name),
			cmp.Compare(a.Label.Phase, b.Label.Phase), cmp.Compare(a.Label.Source, b.Label.Source))
	})
	return l
}

// times decodes Began: the begin times, shifted by offset.
func (r Reads) times(base time.Time, offset time.Duration) ([]time.Time, error) {
	buf, err := base64.StdEncoding.DecodeString(r.Began)
	if err != nil {
		return nil, fmt.Errorf("began: %w", err)
	}
	out := make([]time.Time, 0, r.N)
	var us int64
	for len(buf) > 0 {
		d, n := binary.Varint(buf)
		if n <= 0 {
			return nil, errors.New("began: a truncated varint")
		}
		buf = buf[n:]
		us += d
		out = append(out, base.Add(time.Duration(us)*time.Microsecond+offset))
	}
	if len(out) != r.N {
		return nil, fmt.Errorf("began: %d times, n says %d", len(out), r.N)
	}
	return out, nil
}

// Source is one runner's log and its clock's offset: what to add to its
// times to put them on the reference clock.
type Source struct {
	Log    Log
	Offset time.Duration
}

// Judged is the stale reads Judge found under one label: each one's
// staleness.
type Judged struct {
	Label     Label
	Staleness []time.Duration
}

// Judgement is Judge's result: the stale reads by label (in label
// order), how many flag reads were judged, and how many writes.
type Judgement struct {
	Stale        []Judged
	Reads        int
	Writes       int
	FlagsWritten int
}

// Judge judges every read of every source against the acknowledged
// writes of all of them, times put on one clock by each source's offset,
// by Check's rule: a read is stale when a write that certainly came
// after the value it returned was acknowledged before it began, and its
// staleness is how long that write had been acknowledged. Every source
// must have kept its reads and tell writes apart by the same field; an
// error names the first (by index) that does not.
func Judge(srcs []Source) (Judgement, error) {
	if len(srcs) == 0 {
		return Judgement{}, errors.New("oracle: no log to judge")
	}
	f := srcs[0].Log.Field
	o := NewWith(f)
	for i, s := range srcs {
		switch {
		case !s.Log.Kept:
			return Judgement{}, &LogError{Index: i, Err: errors.New("kept no reads")}
		case s.Log.Field.Name != f.Name || s.Log.Field.Nonce != f.Nonce:
			return Judgement{}, &LogError{Index: i, Err: fmt.Errorf("tells writes apart by %s, log 0 by %s", s.Log.Field.describe(), f.describe())}
		}
		for _, w := range s.Log.Writes {
			wr := write{marker: w.Marker, sent: w.Sent.Add(s.Offset), acked: w.Acked.Add(s.Offset)}
			if !f.Nonce {
				v, err := strconv.ParseInt(w.Marker, 10, 64)
				if err != nil || v <= 0 {
					return Judgement{}, &LogError{Index: i, Err: fmt.Errorf("write of %s/%s: version %q is not a positive integer", w.Env, w.Key, w.Marker)}
				}
				wr.version = v
			}
			o.add(flagKey{w.Env, w.Key}, wr)
		}
	}
	var j Judgement
	j.Writes, j.FlagsWritten = 0, len(o.writes)
	for _, ws := range o.writes {
		j.Writes += len(ws)
	}
	byLabel := map[Label][]time.Duration{}
	for i, s := range srcs {
		for _, r := range s.Log.Reads {
			times, err := r.times(s.Log.Base, s.Offset)
			if err != nil {
				return Judgement{}, &LogError{Index: i, Err: fmt.Errorf("reads of %s/%s: %w", r.Env, r.Key, err)}
			}
			j.Reads += len(times)
			k := flagKey{r.Env, r.Key}
			got := o.writeOf(o.docOf(k, r.Marker))
			// newer's answer for a read that began at t: the first write
			// (by acknowledgement) after got, if acknowledged before t.
			var first *write
			for _, w := range o.writes[k] {
				if o.after(w, got) {
					first = &w
					break
				}
			}
			if first == nil {
				continue
			}
			for _, t := range times {
				if first.acked.Before(t) {
					byLabel[r.Label] = append(byLabel[r.Label], t.Sub(first.acked))
				}
			}
		}
	}
	for l, st := range byLabel {
		j.Stale = append(j.Stale, Judged{Label: l, Staleness: st})
	}
	slices.SortFunc(j.Stale, func(a, b Judged) int {
		return cmp.Or(cmp.Compare(a.Label.Scenario, b.Label.Scenario), cmp.Compare(a.Label.Name, b.Label.Name),
			cmp.Compare(a.Label.Phase, b.Label.Phase), cmp.Compare(a.Label.Source, b.Label.Source))
	})
	return j, nil
}

// LogError is Judge's error about one log: Index is its place in the
// sources.
type LogError struct {
	Index int
	Err   error
}

func (e *LogError) Error() string { return fmt.Sprintf("oracle: log %d: %v", e.Index, e.Err) }
func (e *LogError) Unwrap() error { return e.Err }

func (f Field) describe() string {
	if f.Nonce {
		return fmt.Sprintf("a nonce in field %q", f.Name)
	}
	return fmt.Sprintf("the version in field %q", f.Name)
}
