package flags

import (
	"slices"
	"sync"
)

// lastLists keeps, per environment, the last list of flags this process
// read successfully (from Redis or PostgreSQL), so that a list can still
// be answered when both are down ([Service.List]). Its zero value is
// ready to use, and it is safe for concurrent use.
//
// A copy is never older than a write this process acknowledged:
//
//   - Every successful write updates its flag inside the copy before the
//     PATCH is answered — or drops the copy when it cannot tell which of
//     two overlapping writes to the same flag committed last.
//   - A read only keeps what it read if no write finished since the read
//     began (gen unchanged), so a reader holding a list from before a write
//     cannot put it back after the write updated the copy.
//
// It is per process: writes made through another instance are not seen,
// so with several instances a copy may miss them. A write that failed is
// not applied, even though it may have committed (the connection died
// after COMMIT): its client was not told it succeeded.
type lastLists struct {
	mu      sync.Mutex
	envs    map[string]*lastList
	seq     uint64                // numbers writes as they start
	writing map[pendingKey]uint64 // flag in env -> seq of its latest write still in flight
}

type lastList struct {
	flags []Flag // nil: no copy (never read yet, or dropped); never modified in place
	gen   uint64 // counts the writes acknowledged in this environment
}

// env returns env's entry, creating it. l.mu must be held.
func (l *lastLists) env(env string) *lastList {
	if l.envs == nil {
		l.envs = map[string]*lastList{}
	}
	e, ok := l.envs[env]
	if !ok {
		e = &lastList{}
		l.envs[env] = e
	}
	return e
}

// readStarts returns env's generation, to pass to keep once the read is done.
func (l *lastLists) readStarts(env string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.envs[env]; ok {
		return e.gen
	}
	return 0 // what a new entry starts with
}

// keep makes fs env's copy, unless a write finished since readStarts
// returned gen (fs may then be older than that write). An empty list (an
// unknown environment) is not kept, so requests for made-up environments
// cannot grow the memory.
func (l *lastLists) keep(env string, gen uint64, fs []Flag) {
	if len(fs) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.env(env); e.gen == gen {
		e.flags = fs
	}
}

// get returns env's copy, if there is one.
func (l *lastLists) get(env string) ([]Flag, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.envs[env]; ok && e.flags != nil {
		return e.flags, true
	}
	return nil, false
}

// writeStarts registers a write of key in env before it is sent to the
// database and returns its ticket, to pass to writeEnds.
func (l *lastLists) writeStarts(env, key string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writing == nil {
		l.writing = map[pendingKey]uint64{}
	}
	l.seq++
	l.writing[pendingKey{env, key}] = l.seq
	return l.seq
}

// writeEnds records the end of the write with ticket: f is the committed
// row, or nil if the write failed (then the copy is left alone). The new
// row replaces the old one in the copy only if no other write of the same
// flag started meanwhile: if one did, the database may have committed
// them in either order, so the copy is dropped (the next successful read
// makes a new one).
func (l *lastLists) writeEnds(env, key string, ticket uint64, f *Flag) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := pendingKey{env, key}
	alone := l.writing[k] == ticket
	if alone {
		delete(l.writing, k)
	}
	if f == nil {
		return
	}
	// f exists, so env is a real environment. Readers that began before
	// this write must not keep their list: it may predate the write.
	e := l.env(env)
	e.gen++
	if e.flags == nil {
		return
	}
	i := slices.IndexFunc(e.flags, func(g Flag) bool { return g.Key == f.Key })
	if !alone || i < 0 {
		e.flags = nil
		return
	}
	fs := slices.Clone(e.flags) // the old slice may be being encoded by a reader
	fs[i] = *f
	e.flags = fs
}
