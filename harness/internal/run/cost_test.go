package run

import (
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/scenarios"
)

func TestRedisCostPerPhase(t *testing.T) {
	info := "# Stats\r\ntotal_connections_received:12\r\ntotal_commands_processed:3400\r\n"
	if got := infoInt(info, "total_commands_processed"); got != 3400 {
		t.Fatalf("infoInt = %d", got)
	}
	start := time.Unix(1000, 0)
	spec := &scenarios.Spec{
		Scenarios: []scenarios.Scenario{{Name: "default", Executor: scenarios.ConstantVUs, VUs: 1, Duration: 4 * time.Second}},
		Timeline:  []scenarios.Phase{{Name: "steady", At: 0}, {Name: "outage", At: 2 * time.Second}},
	}
	rec := record.New(start)
	for range 100 {
		rec.Add(record.HTTPReqs, record.Tags{Phase: "steady"}, 1)
		rec.Add(record.HTTPReqs, record.Tags{Phase: "outage"}, 1)
	}
	c := &redisCost{samples: []costSample{
		{at: start, cmds: 0, conns: 0},
		{at: start.Add(time.Second), cmds: 100, conns: 1},
		{at: start.Add(2 * time.Second), cmds: 200, conns: 1},
		{at: start.Add(3 * time.Second), cmds: 500, conns: 21}, // a retry and reconnect storm
		{at: start.Add(4 * time.Second), cmds: 800, conns: 41},
	}}
	got := strings.Join(c.notes(spec, rec, start), "\n")
	for _, want := range []string{"in steady: 2.00 Redis commands and 0.0100 new", "in outage: 6.00 Redis commands and 0.4000 new"} {
		if !strings.Contains(got, want) {
			t.Errorf("notes lack %q:\n%s", want, got)
		}
	}
}
