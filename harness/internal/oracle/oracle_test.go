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
	if err := o.Acknowledge(flagJSON("a", 2), t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		body  []byte
		began time.Time
		want  []Stale
	}{
		{"read began before the ack", flagJSON("a", 1), t0.Add(500 * time.Millisecond), nil},
		{"old version after the ack", flagJSON("a", 1), t0.Add(3 * time.Second), []Stale{{Env: "production", Key: "a", Got: 1, Want: 2, Staleness: 2 * time.Second}}},
		{"new version", flagJSON("a", 2), t0.Add(3 * time.Second), nil},
		{"other flag", flagJSON("b", 1), t0.Add(3 * time.Second), nil},
		{"list with the stale flag", []byte(`{"environment":"production","flags":[{"key":"a","environment":"production","version":1},{"key":"b","environment":"production","version":1}]}`),
			t0.Add(2 * time.Second), []Stale{{Env: "production", Key: "a", Got: 1, Want: 2, Staleness: time.Second}}},
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
	if err := o.Acknowledge([]byte(`{"error":"x"}`), t0); err == nil {
		t.Error("a body without a versioned flag was acknowledged")
	}
}

type truth map[string]int64

func (tr truth) Version(_ context.Context, env, key string) (int64, error) {
	if key == "broken" {
		return 0, errors.New("connection refused")
	}
	return tr[env+"/"+key], nil
}

func TestVerifyDurable(t *testing.T) {
	o := New()
	for _, f := range []struct {
		key string
		v   int64
	}{{"a", 2}, {"a", 3}, {"b", 5}, {"c", 2}, {"broken", 2}} {
		if err := o.Acknowledge(flagJSON(f.key, f.v), t0); err != nil {
			t.Fatal(err)
		}
	}
	db := truth{"production/a": 3, "production/b": 4, "production/c": 7}
	lost := o.VerifyDurable(t.Context(), db)
	var got []string
	for _, l := range lost {
		got = append(got, l.Key)
	}
	if fmt.Sprint(got) != "[b broken]" {
		t.Errorf("lost writes %v, want [b broken] (b: database holds 4 < 5; broken: unreadable)", lost)
	}
}
