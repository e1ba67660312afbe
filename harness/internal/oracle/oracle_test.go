package oracle

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func flagJSON(key string, v int64) []byte {
	return fmt.Appendf(nil, `{"key":%q,"environment":"production","enabled":true,"version":%d}`, key, v)
}

func TestStaleReads(t *testing.T) {
	o := New()
	if got := o.Check(flagJSON("a", 1), t0); got != nil {
		t.Fatalf("before any write nothing is stale: %v", got)
	}
	if err := o.Acknowledge(flagJSON("a", 2), t0.Add(900*time.Millisecond), t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		body  []byte
		began time.Time
		want  []Stale
	}{
		{"read began before the ack", flagJSON("a", 1), t0.Add(500 * time.Millisecond), nil},
		{"old version after the ack", flagJSON("a", 1), t0.Add(3 * time.Second), []Stale{{Env: "production", Key: "a", Got: "1", Want: "2", Staleness: 2 * time.Second}}},
		{"new version", flagJSON("a", 2), t0.Add(3 * time.Second), nil},
		{"other flag", flagJSON("b", 1), t0.Add(3 * time.Second), nil},
		{"list with the stale flag", []byte(`{"environment":"production","flags":[{"key":"a","environment":"production","version":1},{"key":"b","environment":"production","version":1}]}`),
			t0.Add(2 * time.Second), []Stale{{Env: "production", Key: "a", Got: "1", Want: "2", Staleness: time.Second}}},
		{"same key in another environment", []byte(`{"key":"a","environment":"staging","version":1}`), t0.Add(3 * time.Second), nil},
		{"not JSON", []byte("oops"), t0.Add(3 * time.Second), nil},
	}
	for _, c := range cases {
		got := o.Check(c.body, c.began)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestAcknowledgeRejectsNonFlags(t *testing.T) {
	o := New()
	if err := o.Acknowledge([]byte(`{"error":"x"}`), t0, t0); err == nil {
		t.Error("a body without a versioned flag was acknowledged")
	}
}

type truth map[string]string

func (tr truth) Marker(_ context.Context, env, key string) (string, error) {
	if key == "broken" {
		return "", errors.New("connection refused")
	}
	return tr[env+"/"+key], nil
}

func TestVerifyDurable(t *testing.T) {
	o := New()
	for _, f := range []struct {
		key string
		v   int64
	}{{"a", 2}, {"a", 3}, {"b", 5}, {"c", 2}, {"broken", 2}} {
		if err := o.Acknowledge(flagJSON(f.key, f.v), t0, t0); err != nil {
			t.Fatal(err)
		}
	}
	db := truth{"production/a": "3", "production/b": "4", "production/c": "7"}
	lost := o.VerifyDurable(t.Context(), db)
	var got []string
	for _, l := range lost {
		got = append(got, l.Key)
	}
	if fmt.Sprint(got) != "[b broken]" {
		t.Errorf("lost writes %v, want [b broken] (b: database holds 4 < 5; broken: unreadable)", lost)
	}
}

func nonceJSON(key, nonce string) []byte {
	return fmt.Appendf(nil, `{"key":%q,"environment":"production","enabled":true,"description":%q}`, key, nonce)
}

// Without a version field, writes are told apart by a nonce the harness
// writes, and ordered by time: a write came after another only if it was
// sent after the other was acknowledged.
func TestNonceOracle(t *testing.T) {
	o := NewWith(Field{Name: "description", Nonce: true, Prefix: "w"})
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ack := func(key, nonce string, sent, acked int) {
		t.Helper()
		if err := o.Acknowledge(nonceJSON(key, nonce), at(sent), at(acked)); err != nil {
			t.Fatal(err)
		}
	}
	ack("a", "w1", 0, 10)
	ack("a", "w2", 20, 30)
	ack("a", "w3", 25, 40) // in flight with w2: concurrent
	cases := []struct {
		name  string
		body  []byte
		began int
		stale bool
		want  string
	}{
		{"seeded value before any ack", nonceJSON("a", "seed"), 5, false, ""},
		{"seeded value after the first ack", nonceJSON("a", "seed"), 15, true, "w1"},
		{"w1 once w2 is acknowledged", nonceJSON("a", "w1"), 35, true, "w2"},
		{"w1 while w2 is in flight", nonceJSON("a", "w1"), 28, false, ""},
		{"w2 after w3: concurrent writes, either may win", nonceJSON("a", "w2"), 50, false, ""},
		{"w3 after w2", nonceJSON("a", "w3"), 50, false, ""},
		{"in a bare list", []byte(`[` + string(nonceJSON("a", "w1")) + `]`), 50, true, "w2"},
		{"field missing: not judged", []byte(`{"key":"a","environment":"production"}`), 50, false, ""},
		{"a write of ours in flight (committed, not acknowledged yet)", nonceJSON("a", "w9"), 50, false, ""},
	}
	for _, c := range cases {
		got := o.Check(c.body, at(c.began))
		if (len(got) > 0) != c.stale || c.stale && got[0].Want != c.want {
			t.Errorf("%s: %v, want stale=%v (newer %s)", c.name, got, c.stale, c.want)
		}
	}
	lost := o.VerifyDurable(t.Context(), truth{"production/a": "w1"})
	if len(lost) != 1 || lost[0].Acknowledged != "w2" || lost[0].Holds != "w1" {
		t.Errorf("lost = %v, want a/w2 lost (w1 held)", lost)
	}
	if lost := o.VerifyDurable(t.Context(), truth{"production/a": "w2"}); len(lost) != 0 {
		t.Errorf("w2 held, a concurrent write of w3's: lost = %v", lost)
	}
	if err := o.Acknowledge(flagJSON("b", 3), t0, t0); err == nil {
		t.Error("a write answered without the nonce field was acknowledged")
	}
}

// A read must not return an older value than a read that finished before
// it began: that catches staleness no acknowledged write announced (a
// write whose answer never came, a cache that went back in time).
func TestMonotonicReads(t *testing.T) {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	t.Run("versions", func(t *testing.T) {
		o := New()
		// A write the harness never got an answer for: version 5 is
		// committed, nobody acknowledged it.
		if got := o.CheckMonotonic(flagJSON("a", 5), at(0), at(10)); got != nil {
			t.Fatalf("first read: %v", got)
		}
		if got := o.CheckMonotonic(flagJSON("a", 4), at(5), at(15)); got != nil {
			t.Errorf("a read overlapping the one that saw 5 may see 4: %v", got)
		}
		got := o.CheckMonotonic(flagJSON("a", 4), at(20), at(30))
		if len(got) != 1 || got[0].Got != "4" || got[0].Seen != "5" {
			t.Errorf("4 after a read that finished with 5: %v, want one non-monotonic read", got)
		}
		if got := o.CheckMonotonic(flagJSON("b", 1), at(40), at(50)); got != nil {
			t.Errorf("another flag: %v", got)
		}
		if got := o.CheckMonotonic(flagJSON("a", 6), at(60), at(70)); got != nil {
			t.Errorf("a newer version: %v", got)
		}
	})
	t.Run("nonces", func(t *testing.T) {
		o := NewWith(Field{Name: "description", Nonce: true, Prefix: "w"})
		for _, w := range []struct {
			nonce       string
			sent, acked int
		}{{"w1", 0, 10}, {"w2", 20, 30}, {"w3", 25, 40}} {
			if err := o.Acknowledge(nonceJSON("a", w.nonce), at(w.sent), at(w.acked)); err != nil {
				t.Fatal(err)
			}
		}
		o.CheckMonotonic(nonceJSON("a", "w2"), at(45), at(50))
		if got := o.CheckMonotonic(nonceJSON("a", "w3"), at(60), at(70)); got != nil {
			t.Errorf("w3 after w2: concurrent writes, either order: %v", got)
		}
		if got := o.CheckMonotonic(nonceJSON("a", "w1"), at(80), at(90)); len(got) != 1 {
			t.Errorf("w1 after reads saw w2 and w3: %v, want non-monotonic", got)
		}
	})
	t.Run("one decode for both checks", func(t *testing.T) {
		o := New()
		if err := o.Acknowledge(flagJSON("a", 2), at(0), at(10)); err != nil {
			t.Fatal(err)
		}
		o.CheckMonotonic(flagJSON("a", 3), at(20), at(30))
		stale, nm := o.Read(flagJSON("a", 1), at(40), at(50))
		if len(stale) != 1 || len(nm) != 1 {
			t.Errorf("Read = %v, %v; want one stale and one non-monotonic", stale, nm)
		}
	})
}

// The API read back at rest must not be older than the database: a write
// whose answer never came (an ambiguous commit) left the cache behind.
func TestReadBack(t *testing.T) {
	o := New()
	for _, k := range []string{"a", "b"} {
		if err := o.Acknowledge(flagJSON(k, 3), t0, t0); err != nil {
			t.Fatal(err)
		}
	}
	db := truth{"production/a": "4", "production/b": "3"}
	api := truth{"production/a": "3", "production/b": "3"}
	got := o.ReadBack(t.Context(), nil, api, db)
	if len(got) != 1 || got[0].Key != "a" || got[0].Got != "3" || got[0].Want != "4" {
		t.Errorf("ReadBack = %v, want a: the API answers 3, the database holds 4", got)
	}
	// A flag no acknowledged write touched: an update answered 503 may
	// still have committed, and the key space is read back too.
	db["production/c"], api["production/c"] = "2", "1"
	got = o.ReadBack(t.Context(), []Ref{{"production", "c"}, {"production", "a"}}, api, db)
	if len(got) != 2 || got[0].Key != "a" || got[1].Key != "c" {
		t.Errorf("ReadBack with the key space = %v, want a and c (once each)", got)
	}
}

// In nonce mode an unacknowledged value read back that differs from the
// database is stale; a newer acknowledged one (a lost write) is not.
func TestReadBackNonce(t *testing.T) {
	o := NewWith(Field{Name: "description", Nonce: true, Prefix: "fs-"})
	for i, n := range []string{"fs-1", "fs-2"} {
		sent := t0.Add(time.Duration(i) * time.Second)
		if err := o.Acknowledge(nonceJSON("a", n), sent, sent.Add(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	db := truth{"production/a": "fs-1", "production/b": "fs-9"}
	api := truth{"production/a": "fs-2", "production/b": "seeded"}
	got := o.ReadBack(t.Context(), []Ref{{"production", "b"}}, api, db)
	if len(got) != 1 || got[0].Key != "b" {
		t.Errorf("ReadBack = %v, want b only (a is a lost write, not stale)", got)
	}
}

// A field that reads null is a value (the seeded empty one), judged like
// any other; only an absent field is not judged.
func TestNullFieldIsJudged(t *testing.T) {
	o := NewWith(Field{Name: "description", Nonce: true, Prefix: "fs-"})
	if err := o.Acknowledge(nonceJSON("a", "fs-1"), t0, t0.Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if got := o.Check([]byte(`{"key":"a","environment":"production","description":null}`), t0.Add(time.Second)); len(got) != 1 {
		t.Errorf("null after an acknowledged nonce: %v, want stale", got)
	}
	if got := o.Check([]byte(`{"flags":[{"key":"a","environment":"production"}]}`), t0.Add(time.Second)); got != nil {
		t.Errorf("absent field: %v, want not judged", got)
	}
}
