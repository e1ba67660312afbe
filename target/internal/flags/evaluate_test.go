package flags

import (
	"fmt"
	"testing"
)

func TestBucketIsStableAndUniform(t *testing.T) {
	// Fixed values: a change of hash would move users between rollouts.
	for _, tt := range []struct {
		key, user string
		want      int
	}{
		{"flag-000", "user-1", 45},
		{"flag-042", "alice", 6},
		{"checkout", "u-123", 65},
	} {
		if got := Bucket(tt.key, tt.user); got != tt.want {
			t.Errorf("Bucket(%q,%q) = %d, want %d", tt.key, tt.user, got, tt.want)
		}
	}
	var counts [100]int
	for i := range 100_000 {
		counts[Bucket("flag-001", fmt.Sprint("user-", i))]++
	}
	for b, n := range counts {
		if n < 800 || n > 1200 {
			t.Errorf("bucket %d has %d of 100000 users; want about 1000", b, n)
		}
	}
}

func TestEvaluateRolloutGrowsMonotonically(t *testing.T) {
	in := map[string]bool{}
	for pct := 0; pct <= 100; pct += 10 {
		f := Flag{Key: "k", Enabled: true, RolloutPercentage: pct}
		n := 0
		for i := range 1000 {
			u := fmt.Sprint("u", i)
			e := Evaluate(f, u)
			if e.Enabled {
				n++
			} else if in[u] {
				t.Fatalf("user %s left the rollout when it grew to %d%%", u, pct)
			}
			in[u] = e.Enabled
		}
		if pct == 0 && n != 0 || pct == 100 && n != 1000 {
			t.Errorf("at %d%%, %d of 1000 users enabled", pct, n)
		}
	}
	if e := Evaluate(Flag{Key: "k", Enabled: false, RolloutPercentage: 100}, "u"); e.Enabled || e.Reason != "disabled" {
		t.Errorf("disabled flag evaluated to %+v", e)
	}
}
