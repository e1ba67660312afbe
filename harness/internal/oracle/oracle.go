// Package oracle checks every answer against the writes the harness made.
// The harness seeds the data and is the only writer during a run, so it
// knows every acknowledged write of every flag: a read that returns a
// value older than a write acknowledged before the read began is stale,
// and how long that newer write had been acknowledged is its staleness.
// At the end, every acknowledged write must be in the source of truth:
// nothing lost.
//
// It needs only the HTTP API. A write is told apart by a field of the flag
// (Field): a version the service increments with every write (flagserver's
// "version"), or, for a service without one, a nonce the harness writes
// into a writable field with every write. Versions order writes exactly.
// Nonces order them by time only: a write came after another if it was
// sent after the other was acknowledged; writes in flight together are
// concurrent, and either may be the one a read returns.
package oracle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Field names the flag field that identifies a write.
type Field struct {
	// Name is the JSON field: "version" for flagserver.
	Name string
	// Nonce is true when the harness writes the field (a fresh string per
	// write) and false when the service sets it (an integer that grows
	// with every write).
	Nonce bool
	// Prefix, with Nonce, starts every nonce the harness writes. A read
	// may return a write that committed before its answer reached the
	// harness: a nonce with the prefix that is not acknowledged yet is
	// such a write in flight, which no acknowledged write can be newer
	// than. A value without it is the seeded one, older than every write.
	Prefix string
}

// inFlight is the write a read returns before the harness has its answer.
var inFlight = write{acked: time.Unix(1<<62, 0)}

// write is one acknowledged write.
type write struct {
	marker  string // the field's value, as text
	version int64  // the version, in version mode
	sent    time.Time
	acked   time.Time // when the harness received the 200
}

// after reports whether w certainly came after v.
func (o *Oracle) after(w, v write) bool {
	if o.field.Nonce {
		return w.sent.After(v.acked)
	}
	return w.version > v.version
}

type flagKey struct{ env, key string }

// seen is a value reads returned, and when the first read returning it
// finished.
type seen struct {
	doc   doc
	first time.Time
}

// Oracle is safe for concurrent use.
type Oracle struct {
	field  Field
	mu     sync.RWMutex
	writes map[flagKey][]write // by acked time
	nonces map[string]write    // nonce mode: every acknowledged nonce
	types  flagTypes

	smu  sync.Mutex
	seen map[flagKey][]seen // the values reads returned, for monotonic reads

	keep *keeper // the reads kept for Log; nil: none (see Keep)
}

// New returns an oracle of flagserver's kind: writes told apart by the
// "version" field.
func New() *Oracle { return NewWith(Field{Name: "version"}) }

// NewWith returns an oracle that tells writes apart by f.
func NewWith(f Field) *Oracle {
	return &Oracle{field: f, writes: map[flagKey][]write{}, nonces: map[string]write{}, seen: map[flagKey][]seen{}, types: newFlagTypes(f.Name)}
}

// Field is what the oracle tells writes apart by.
func (o *Oracle) Field() Field { return o.field }

// Stale is one stale read.
type Stale struct {
	Env, Key  string
	Got, Want string        // the field's value read; the newer acknowledged one
	Staleness time.Duration // how long Want had been acknowledged when the read began
}

// doc is a flag as the oracle reads it.
type doc struct {
	key, env, marker string
	version          int64
	ok               bool // the field is present and well formed
}

// parse reads the flag fields the oracle needs from one JSON object.
func (o *Oracle) parse(f reflect.Value) doc {
	d := doc{key: f.Field(0).String(), env: f.Field(1).String()}
	v := f.Field(2).Bytes()
	if len(v) == 0 { // absent (null is present: the seeded empty value)
		return d
	}
	if o.field.Nonce {
		d.ok = json.Unmarshal(v, &d.marker) == nil
		return d
	}
	d.ok = json.Unmarshal(v, &d.version) == nil
	d.marker = strconv.FormatInt(d.version, 10)
	return d
}

// Acknowledge records a write the server answered 200 to, from the
// response body (the flag as written), sent at sent and answered at at.
func (o *Oracle) Acknowledge(body []byte, sent, at time.Time) error {
	one := reflect.New(o.types.one)
	if err := json.Unmarshal(body, one.Interface()); err != nil {
		return fmt.Errorf("oracle: a 200 answer to a write is not a JSON object: %.100q", body)
	}
	d := o.parse(one.Elem())
	if d.key == "" || !d.ok || !o.field.Nonce && d.version <= 0 || o.field.Nonce && d.marker == "" {
		return fmt.Errorf("oracle: a 200 answer to a write does not hold a flag with its %q field: %.100q", o.field.Name, body)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.add(flagKey{d.env, d.key}, write{marker: d.marker, version: d.version, sent: sent, acked: at})
	return nil
}

// add records an acknowledged write in the order of acknowledgement; o.mu
// is held for writing.
func (o *Oracle) add(k flagKey, w write) {
	ws := o.writes[k]
	if !o.field.Nonce {
		for _, x := range ws {
			if x.version == w.version {
				return // the same version answered twice
			}
		}
	}
	i := sort.Search(len(ws), func(i int) bool { return ws[i].acked.After(w.acked) })
	ws = append(ws, write{})
	copy(ws[i+1:], ws[i:])
	ws[i] = w
	o.writes[k] = ws
	if o.field.Nonce {
		o.nonces[w.marker] = w
	}
}

// writeOf is the write a value read comes from: in nonce mode the write
// that wrote it (an unknown nonce, the seeded value, came before all), in
// version mode its version.
func (o *Oracle) writeOf(d doc) write {
	if o.field.Nonce {
		w, ok := o.nonces[d.marker]
		if !ok && o.field.Prefix != "" && strings.HasPrefix(d.marker, o.field.Prefix) {
			return inFlight
		}
		return w
	}
	return write{marker: d.marker, version: d.version}
}

// newer returns the write acknowledged before t that certainly came after
// got and was acknowledged first, if any.
func (o *Oracle) newer(k flagKey, got write, t time.Time) (write, bool) {
	for _, w := range o.writes[k] {
		if !w.acked.Before(t) {
			break
		}
		if o.after(w, got) {
			return w, true
		}
	}
	return write{}, false
}

// Check checks a read that began at began: a one-flag document, or a list
// as {"flags": [...]} or a bare array. It returns the stale flags in it.
// Nothing is decoded until the first write is acknowledged: before that
// no read can be stale.
func (o *Oracle) Check(body []byte, began time.Time) []Stale {
	o.mu.RLock()
	n := len(o.writes)
	o.mu.RUnlock()
	if n == 0 {
		return nil
	}
	docs := o.decode(body)
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.stale(docs, began)
}

// stale is Check on decoded flags; o.mu is held for reading.
func (o *Oracle) stale(docs []doc, began time.Time) []Stale {
	var out []Stale
	for _, d := range docs {
		if w, stale := o.newer(flagKey{d.env, d.key}, o.writeOf(d), began); stale {
			out = append(out, Stale{Env: d.env, Key: d.key, Got: d.marker, Want: w.marker, Staleness: began.Sub(w.acked)})
		}
	}
	return out
}

// NonMonotonic is one read older than what a read that finished before it
// began had returned: staleness that no acknowledged write announced (a
// write whose answer was lost, a cache that went back in time).
type NonMonotonic struct {
	Env, Key string
	Got      string // the field's value this read returned
	Seen     string // the newer value an earlier read returned
}

// CheckMonotonic records the values a read that began at began and
// finished at done returned, and returns those older than a value an
// earlier read (one that finished before this one began) returned for
// the same flag. Values are compared as Check compares them: by version,
// or by the writes their nonces came from.
func (o *Oracle) CheckMonotonic(body []byte, began, done time.Time) []NonMonotonic {
	docs := o.decode(body)
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.monotonic(docs, began, done)
}

// Read judges a read that began at began and finished at done, decoding
// it once: stale (Check) and non-monotonic (CheckMonotonic). Nothing is
// decoded until the first write is acknowledged: before that every read
// returns the seeded values.
func (o *Oracle) Read(body []byte, began, done time.Time) ([]Stale, []NonMonotonic) {
	o.mu.RLock()
	n := len(o.writes)
	o.mu.RUnlock()
	if n == 0 {
		return nil, nil
	}
	docs := o.decode(body)
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.stale(docs, began), o.monotonic(docs, began, done)
}

// monotonic is CheckMonotonic on decoded flags; o.mu is held for reading.
func (o *Oracle) monotonic(docs []doc, began, done time.Time) []NonMonotonic {
	var out []NonMonotonic
	o.smu.Lock()
	defer o.smu.Unlock()
	for _, d := range docs {
		k := flagKey{d.env, d.key}
		got := o.writeOf(d)
		ss := o.seen[k]
		found := false
		for i := range ss {
			s := &ss[i]
			if s.doc.marker == d.marker {
				found = true
				if done.Before(s.first) {
					s.first = done
				}
				continue
			}
			if s.first.Before(began) && o.after(o.writeOf(s.doc), got) {
				out = append(out, NonMonotonic{Env: d.env, Key: d.key, Got: d.marker, Seen: s.doc.marker})
				break
			}
		}
		if !found {
			o.seen[k] = append(ss, seen{doc: d, first: done})
		}
	}
	return out
}

// flagTypes are the struct types the oracle decodes flags into: key,
// environment and its field (named at run time, hence reflect.StructOf),
// so that a list of a hundred flags is decoded in one pass without a map
// per flag (this runs for every read the load engine makes).
type flagTypes struct {
	flag reflect.Type // struct{Key, Environment string; Field json.RawMessage}
	one  reflect.Type // a flag, with Flags []flag for {"flags": [...]}
	list reflect.Type // []flag
}

func newFlagTypes(field string) flagTypes {
	fields := []reflect.StructField{
		{Name: "Key", Type: reflect.TypeFor[string](), Tag: `json:"key"`},
		{Name: "Environment", Type: reflect.TypeFor[string](), Tag: `json:"environment"`},
		{Name: "Field", Type: reflect.TypeFor[json.RawMessage](), Tag: reflect.StructTag(`json:` + strconv.Quote(field))},
	}
	flag := reflect.StructOf(fields)
	list := reflect.SliceOf(flag)
	one := reflect.StructOf(append(fields, reflect.StructField{Name: "Flags", Type: list, Tag: `json:"flags"`}))
	return flagTypes{flag: flag, one: one, list: list}
}

// decode reads a one-flag document, or a list as {"flags": [...]} or a
// bare array, and returns the flags that carry a key and the field.
func (o *Oracle) decode(body []byte) []doc {
	var list reflect.Value
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) > 0 && b[0] == '[' {
		v := reflect.New(o.types.list)
		if json.Unmarshal(body, v.Interface()) != nil {
			return nil
		}
		list = v.Elem()
	} else {
		v := reflect.New(o.types.one)
		if json.Unmarshal(body, v.Interface()) != nil {
			return nil
		}
		if list = v.Elem().Field(3); list.IsNil() {
			if d := o.parse(v.Elem()); d.ok && d.key != "" {
				return []doc{d}
			}
			return nil
		}
	}
	docs := make([]doc, 0, list.Len())
	for i := range list.Len() {
		if d := o.parse(list.Index(i)); d.ok && d.key != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

// Written counts the flags written.
func (o *Oracle) Written() int {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return len(o.writes)
}

// Truth reads a flag's field (its version or nonce, as text) from the
// source of truth: the database directly, or the API once the faults are
// off. "" with a nil error means the flag is missing.
type Truth interface {
	Marker(ctx context.Context, env, key string) (string, error)
}

// Lost is an acknowledged write the source of truth does not hold.
type Lost struct {
	Env, Key     string
	Acknowledged string // the field of the newest acknowledged write
	Holds        string // what the source of truth holds; "" when missing
	Err          error
}

func (l Lost) String() string {
	if l.Err != nil {
		return fmt.Sprintf("%s/%s: acknowledged %s, source of truth unreadable: %v", l.Env, l.Key, l.Acknowledged, l.Err)
	}
	return fmt.Sprintf("%s/%s: acknowledged %s, source of truth holds %q", l.Env, l.Key, l.Acknowledged, l.Holds)
}

// keys are the written flags, sorted.
func (o *Oracle) keys() []flagKey {
	o.mu.RLock()
	keys := make([]flagKey, 0, len(o.writes))
	for k := range o.writes {
		keys = append(keys, k)
	}
	o.mu.RUnlock()
	sort.Slice(keys, func(i, j int) bool { return keys[i].env+"/"+keys[i].key < keys[j].env+"/"+keys[j].key })
	return keys
}

// VerifyDurable reads every written flag from the source of truth and
// returns the flags whose value there is older than a write acknowledged
// during the run.
func (o *Oracle) VerifyDurable(ctx context.Context, src Truth) []Lost {
	keys := o.keys()
	var lost []Lost
	for _, k := range keys {
		m, err := src.Marker(ctx, k.env, k.key)
		o.mu.RLock()
		ws := o.writes[k]
		last := ws[len(ws)-1]
		w, older := o.newer(k, o.writeOf(o.docOf(k, m)), time.Now().Add(time.Hour))
		o.mu.RUnlock()
		switch {
		case err != nil:
			lost = append(lost, Lost{Env: k.env, Key: k.key, Acknowledged: last.marker, Err: err})
		case older:
			lost = append(lost, Lost{Env: k.env, Key: k.key, Acknowledged: w.marker, Holds: m})
		}
	}
	return lost
}

// Ref names one flag.
type Ref struct{ Env, Key string }

// ReadBack compares, for every written flag and every flag in also (the
// run's whole key space: a write answered with an error was never
// acknowledged, yet may have committed), what the service answers (api,
// read once the faults are off) with the source of truth (db). At rest
// they must agree: an answer older than the database is stale — a cache
// left behind by a write whose answer never came (an ambiguous commit),
// which no acknowledged write announces. In nonce mode, where two
// unacknowledged values cannot be ordered, any answer other than the
// database's is stale unless it is a newer acknowledged write (a lost
// write: durability reports those). Flags either side cannot read are
// skipped: durability reports the database's, the run the API's.
func (o *Oracle) ReadBack(ctx context.Context, also []Ref, api, db Truth) []Stale {
	keys := o.keys()
	written := make(map[flagKey]bool, len(keys))
	for _, k := range keys {
		written[k] = true
	}
	for _, r := range also {
		if k := (flagKey{r.Env, r.Key}); !written[k] {
			written[k] = true
			keys = append(keys, k)
		}
	}
	var out []Stale
	for _, k := range keys {
		dm, err := db.Marker(ctx, k.env, k.key)
		if err != nil || dm == "" {
			continue
		}
		am, err := api.Marker(ctx, k.env, k.key)
		if err != nil || am == dm {
			continue
		}
		o.mu.RLock()
		dw, aw := o.writeOf(o.docOf(k, dm)), o.writeOf(o.docOf(k, am))
		older := o.after(dw, aw) || o.field.Nonce && !o.after(aw, dw)
		o.mu.RUnlock()
		if older {
			out = append(out, Stale{Env: k.env, Key: k.key, Got: am, Want: dm})
		}
	}
	return out
}

// docOf is a flag whose field reads m.
func (o *Oracle) docOf(k flagKey, m string) doc {
	d := doc{key: k.key, env: k.env, marker: m, ok: true}
	if !o.field.Nonce {
		d.version, _ = strconv.ParseInt(m, 10, 64)
	}
	return d
}
