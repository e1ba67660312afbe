package oracle

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// event is a write's acknowledgement or a read's answer, delivered at
// its time to the oracle of the runner that made it.
type event struct {
	at     time.Time // delivery: the ack, or the read's end
	runner int
	write  bool
	key    string
	v      int64
	sent   time.Time // a write's send; a read's begin
	label  Label
}

// simulate makes writes and reads of three flags over 20 s, on µs
// boundaries, each by one of k runners; reads mostly return the newest
// acknowledged version, sometimes an older one.
func simulate(rng *rand.Rand, k int) []event {
	keys := []string{"a", "b", "c"}
	labels := []Label{{Scenario: "readers", Name: "list", Phase: "steady", Source: "redis"}, {Scenario: "readers", Name: "get", Phase: "outage", Source: "memory"}}
	type ack struct {
		v  int64
		at time.Time
	}
	acked := map[string][]ack{}
	version := map[string]int64{"a": 1, "b": 1, "c": 1}
	us := func(d int64) time.Duration { return time.Duration(d) * time.Microsecond }
	var evs []event
	for i := range 4000 {
		t := t0.Add(us(int64(i) * 5000))
		key := keys[rng.IntN(len(keys))]
		runner := rng.IntN(k)
		if rng.IntN(6) == 0 {
			version[key]++
			a := t.Add(us(rng.Int64N(30000)))
			acked[key] = append(acked[key], ack{version[key], a})
			evs = append(evs, event{at: a, runner: runner, write: true, key: key, v: version[key], sent: t})
			continue
		}
		v := int64(1)
		for _, a := range acked[key] {
			if a.at.Before(t) {
				v = a.v
			}
		}
		if v > 1 && rng.IntN(4) == 0 {
			v -= 1 + rng.Int64N(v-1) // an older one
		}
		evs = append(evs, event{at: t.Add(us(1 + rng.Int64N(20000))), runner: runner, key: key, v: v, sent: t, label: labels[rng.IntN(len(labels))]})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	return evs
}

// TestJudgeAcrossRunnersEqualsOneOracle: reads and writes split over k
// runners, each with its own oracle and a clock that is off by a known
// offset, judged together from their logs (through JSON), find exactly
// the stale reads, by label and staleness, that one oracle seeing all of
// them finds; the runners' own oracles find fewer.
func TestJudgeAcrossRunnersEqualsOneOracle(t *testing.T) {
	nonce := Field{Name: "etag", Nonce: true, Prefix: "fs-"}
	for _, tc := range []struct {
		k     int
		field Field
	}{{1, Field{Name: "version"}}, {2, Field{Name: "version"}}, {4, Field{Name: "version"}}, {3, nonce}} {
		k, f := tc.k, tc.field
		body := func(key string, v int64) []byte {
			if !f.Nonce {
				return fmt.Appendf(nil, `{"key":%q,"environment":"production","version":%d}`, key, v)
			}
			if v == 1 {
				return fmt.Appendf(nil, `{"key":%q,"environment":"production","etag":"seeded"}`, key)
			}
			return fmt.Appendf(nil, `{"key":%q,"environment":"production","etag":"fs-%s-%d"}`, key, key, v)
		}
		t.Run(fmt.Sprintf("K=%d,%s", k, f.describe()), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(k), 7))
			evs := simulate(rng, k)
			one := NewWith(f)
			one.Keep(t0)
			runners := make([]*Oracle, k)
			offsets := make([]time.Duration, k)
			for i := range runners {
				runners[i] = NewWith(f)
				offsets[i] = time.Duration(i) * 1500 * time.Millisecond // runner i's clock is behind by this
				runners[i].Keep(t0.Add(-offsets[i]))
			}
			want := map[Label][]time.Duration{}
			local := 0
			for _, e := range evs {
				r, off := runners[e.runner], offsets[e.runner]
				body := body(e.key, e.v)
				if e.write {
					if err := one.Acknowledge(body, e.sent, e.at); err != nil {
						t.Fatal(err)
					}
					if err := r.Acknowledge(body, e.sent.Add(-off), e.at.Add(-off)); err != nil {
						t.Fatal(err)
					}
					continue
				}
				stale, _ := one.ReadAs(body, e.sent, e.at, e.label)
				for _, s := range stale {
					want[e.label] = append(want[e.label], s.Staleness)
				}
				mine, _ := r.ReadAs(body, e.sent.Add(-off), e.at.Add(-off), e.label)
				local += len(mine)
			}
			srcs := make([]Source, k)
			for i, r := range runners {
				b, err := json.Marshal(r.Log())
				if err != nil {
					t.Fatal(err)
				}
				var l Log
				if err := json.Unmarshal(b, &l); err != nil {
					t.Fatal(err)
				}
				srcs[i] = Source{Log: l, Offset: offsets[i]}
			}
			j, err := Judge(srcs)
			if err != nil {
				t.Fatal(err)
			}
			got := map[Label][]time.Duration{}
			n := 0
			for _, s := range j.Stale {
				got[s.Label] = append(got[s.Label], s.Staleness...)
				n += len(s.Staleness)
			}
			for _, m := range []map[Label][]time.Duration{want, got} {
				for _, v := range m {
					slices.Sort(v)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("stale reads judged across runners differ from one oracle's (-one +judged):\n%s", diff)
			}
			if n == 0 {
				t.Fatal("no stale read: the simulation tests nothing")
			}
			if k > 1 && local >= n {
				t.Errorf("the runners' own oracles found %d stale reads of %d: the split tests nothing across runners", local, n)
			}
			if j.Reads != 0 && j.Writes == 0 {
				t.Error("no writes judged")
			}
		})
	}
}

func TestJudgeRefusesLogsItCannotJudge(t *testing.T) {
	kept := New()
	kept.Keep(t0)
	notKept := New()
	nonce := NewWith(Field{Name: "etag", Nonce: true})
	nonce.Keep(t0)
	for _, tc := range []struct {
		name string
		logs []Log
		want int
	}{
		{"a log without reads", []Log{kept.Log(), notKept.Log()}, 1},
		{"another field", []Log{kept.Log(), kept.Log(), nonce.Log()}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srcs := make([]Source, len(tc.logs))
			for i, l := range tc.logs {
				srcs[i] = Source{Log: l}
			}
			_, err := Judge(srcs)
			var le *LogError
			if !errors.As(err, &le) || le.Index != tc.want {
				t.Fatalf("Judge: %v, want a LogError for log %d", err, tc.want)
			}
		})
	}
}
