package main

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCounters(t *testing.T) {
	text := `# HELP flagserver_reads_total Flag reads answered, by where the data came from.
# TYPE flagserver_reads_total counter
flagserver_reads_total{source="db"} 3
flagserver_reads_total{source="memory"} 1.234567e+06
flagserver_reads_total{source="redis"} 12
flagserver_reads_total_created{source="redis"} 1.7e9
flagserver_db_fallbacks_total{reason="circuit_open"} 2410
flagserver_db_fallbacks_total{reason="miss"} 3
flagserver_http_requests_total{code="200",method="GET",route="GET /readyz"} 4
`
	got, err := parseCounters(text)
	if err != nil {
		t.Fatal(err)
	}
	want := counters{
		sources:   map[string]float64{"db": 3, "memory": 1234567, "redis": 12},
		fallbacks: map[string]float64{"circuit_open": 2410, "miss": 3},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(counters{})); diff != "" {
		t.Errorf("parseCounters (-want +got):\n%s", diff)
	}
	if got := counts(got.fallbacks); got != "circuit_open 2410, miss 3" {
		t.Errorf("counts = %q", got)
	}
	if _, err := parseCounters("go_goroutines 7\n"); err == nil {
		t.Error("parseCounters without the reads metric: want an error")
	}
}

func TestShare(t *testing.T) {
	before := map[string]float64{"db": 1, "redis": 10}
	tests := []struct {
		name       string
		after      map[string]float64
		want       float64
		wantOthers string
	}{
		{"all from redis", map[string]float64{"db": 1, "redis": 110}, 1, ""},
		{"one in ten from the database", map[string]float64{"db": 11, "redis": 100}, 0.9, "db 10.00 %"},
		{"new sources appear", map[string]float64{"db": 2, "redis": 10, "db-fallback": 3}, 0, "db-fallback 75.00 %, db 25.00 %"},
		{"no reads", map[string]float64{"db": 1, "redis": 10}, math.NaN(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reads := delta(before, tt.after)
			got := share(reads, "redis")
			if !cmp.Equal(tt.want, got, cmp.Comparer(func(a, b float64) bool {
				return a == b || math.IsNaN(a) && math.IsNaN(b)
			})) {
				t.Errorf("share = %v, want %v", got, tt.want)
			}
			if o := others(reads, "redis"); o != tt.wantOthers {
				t.Errorf("others = %q, want %q", o, tt.wantOthers)
			}
		})
	}
}

func TestParseCommandStats(t *testing.T) {
	info := "# Commandstats\r\n" +
		"cmdstat_get:calls=300123,usec=150000,usec_per_call=0.50,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=7,usec=700,usec_per_call=100.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|setinfo:calls=4,usec=4,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n"
	got, err := parseCommandStats(info)
	if err != nil || got != 300134 {
		t.Errorf("parseCommandStats = %d, %v; want 300134", got, err)
	}
	if _, err := parseCommandStats("cmdstat_get:usec=1\r\n"); err == nil {
		t.Error("a line without calls=: want an error")
	}
}
