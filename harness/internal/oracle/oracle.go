// Package oracle checks every answer against the database's truth. The
// harness seeds the data and is the only writer during a run, so it knows
// every acknowledged version of every flag: a read that returns a version
// older than the newest one acknowledged before the read began is stale,
// and how long that newer version had been acknowledged is its staleness.
// At the end, every acknowledged write must be in the database: nothing
// lost.
package oracle

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"
)

// ack is one acknowledged write.
type ack struct {
	version int64
	at      time.Time // when the harness received the 200
}

type flagKey struct{ env, key string }

// Oracle is safe for concurrent use.
type Oracle struct {
	mu   sync.RWMutex
	acks map[flagKey][]ack // ascending by version
}

// New returns an empty oracle.
func New() *Oracle {
	return &Oracle{acks: make(map[flagKey][]ack)}
}

// Stale is one stale read.
type Stale struct {
	Env, Key  string
	Got, Want int64         // the version read; the newest acknowledged before the read began
	Staleness time.Duration // how long Want had been acknowledged when the read began
}

// flagDoc is the part of a flag the oracle reads.
type flagDoc struct {
	Key         string `json:"key"`
	Environment string `json:"environment"`
	Version     int64  `json:"version"`
}

// Acknowledge records a write the server answered 200 to, from the
// response body (the committed flag), at the time the answer arrived.
func (o *Oracle) Acknowledge(body []byte, at time.Time) error {
	var f flagDoc
	if err := json.Unmarshal(body, &f); err != nil || f.Key == "" || f.Version <= 0 {
		return fmt.Errorf("oracle: a 200 answer to a write does not hold a flag with a version: %.100q", body)
	}
	k := flagKey{f.Environment, f.Key}
	o.mu.Lock()
	defer o.mu.Unlock()
	as := o.acks[k]
	i := sort.Search(len(as), func(i int) bool { return as[i].version >= f.Version })
	if i < len(as) && as[i].version == f.Version {
		return nil
	}
	as = append(as, ack{})
	copy(as[i+1:], as[i:])
	as[i] = ack{version: f.Version, at: at}
	o.acks[k] = as
	return nil
}

// newestBefore returns the newest acknowledgement of k received before t.
func (o *Oracle) newestBefore(k flagKey, t time.Time) (ack, bool) {
	as := o.acks[k]
	var best ack
	found := false
	for _, a := range as {
		if a.at.Before(t) && a.version > best.version {
			best, found = a, true
		}
	}
	return best, found
}

// Check checks a read that began at began: a one-flag document or an
// environment's list. It returns the stale flags in it. Nothing is decoded
// until the first write is acknowledged: before that no read can be
// stale.
func (o *Oracle) Check(body []byte, began time.Time) []Stale {
	o.mu.RLock()
	n := len(o.acks)
	o.mu.RUnlock()
	if n == 0 {
		return nil
	}
	var doc struct {
		flagDoc
		Flags []flagDoc `json:"flags"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return nil
	}
	if doc.Flags == nil {
		if s, stale := o.check(doc.flagDoc, began); stale {
			return []Stale{s}
		}
		return nil
	}
	var out []Stale
	for _, f := range doc.Flags {
		if s, stale := o.check(f, began); stale {
			out = append(out, s)
		}
	}
	return out
}

func (o *Oracle) check(f flagDoc, began time.Time) (Stale, bool) {
	o.mu.RLock()
	a, ok := o.newestBefore(flagKey{f.Environment, f.Key}, began)
	o.mu.RUnlock()
	if !ok || f.Version >= a.version {
		return Stale{}, false
	}
	return Stale{Env: f.Environment, Key: f.Key, Got: f.Version, Want: a.version, Staleness: began.Sub(a.at)}, true
}

// Written lists every flag written, with its newest acknowledged version.
func (o *Oracle) Written() map[[2]string]int64 {
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make(map[[2]string]int64, len(o.acks))
	for k, as := range o.acks {
		out[[2]string{k.env, k.key}] = as[len(as)-1].version
	}
	return out
}

// Truth reads a flag's version from the database.
type Truth interface {
	Version(ctx context.Context, env, key string) (int64, error)
}

// Lost is an acknowledged write the database does not hold.
type Lost struct {
	Env, Key      string
	Acknowledged  int64
	InDatabase    int64 // 0 when the flag is missing
	DatabaseError error
}

func (l Lost) String() string {
	if l.DatabaseError != nil {
		return fmt.Sprintf("%s/%s: acknowledged version %d, database unreadable: %v", l.Env, l.Key, l.Acknowledged, l.DatabaseError)
	}
	return fmt.Sprintf("%s/%s: acknowledged version %d, database holds %d", l.Env, l.Key, l.Acknowledged, l.InDatabase)
}

// VerifyDurable reads every written flag from the database and returns the
// acknowledged writes it does not hold (version lower than acknowledged).
func (o *Oracle) VerifyDurable(ctx context.Context, db Truth) []Lost {
	var lost []Lost
	for k, v := range o.Written() {
		got, err := db.Version(ctx, k[0], k[1])
		if err != nil || got < v {
			lost = append(lost, Lost{Env: k[0], Key: k[1], Acknowledged: v, InDatabase: got, DatabaseError: err})
		}
	}
	sort.Slice(lost, func(i, j int) bool { return lost[i].Env+lost[i].Key < lost[j].Env+lost[j].Key })
	return lost
}
