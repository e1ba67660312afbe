package toxics

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseKind(t *testing.T) {
	for _, k := range Kinds() {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
	}
	aliases := map[string]Kind{"timeout": Blackhole, "reset_peer": Reset}
	for s, want := range aliases {
		if got, err := ParseKind(s); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"lag", "", "Latency", "latency "} {
		_, err := ParseKind(s)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "kind" {
			t.Errorf("ParseKind(%q) error = %v, want a FieldError for kind", s, err)
		}
	}
	_, err := ParseKind("lag")
	want := `kind: unknown fault type "lag" (want latency, blackhole, refused, reset, bandwidth, slicer, limit_data, slow_close)`
	if err == nil || err.Error() != want {
		t.Errorf("ParseKind(\"lag\") error = %v\nwant %s", err, want)
	}
	if got := Kind(42).String(); got != "Kind(42)" {
		t.Errorf("Kind(42).String() = %q", got)
	}
}

func TestParseDirection(t *testing.T) {
	for _, d := range []Direction{Downstream, Upstream, Both} {
		got, err := ParseDirection(d.String())
		if err != nil || got != d {
			t.Errorf("ParseDirection(%q) = %v, %v; want %v", d.String(), got, err, d)
		}
	}
	if got, err := ParseDirection(""); err != nil || got != DefaultDirection {
		t.Errorf("ParseDirection(\"\") = %v, %v; want the default", got, err)
	}
	_, err := ParseDirection("sideways")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "direction" {
		t.Errorf("ParseDirection(\"sideways\") error = %v, want a FieldError for direction", err)
	}
}

func TestValidate(t *testing.T) {
	known := []string{"redis", "redis-replica", "postgres"}
	tests := []struct {
		name  string
		fault Fault
		want  []string // fields with a problem, in order
		msg   string   // a part of the message
	}{
		{"latency", Fault{Proxy: "redis", Kind: Latency, Latency: 100 * time.Millisecond, Jitter: 10 * time.Millisecond}, nil, ""},
		{"blackhole", Fault{Proxy: "redis", Kind: Blackhole}, nil, ""},
		{"blackhole with timeout", Fault{Proxy: "redis", Kind: Blackhole, Timeout: time.Second}, nil, ""},
		{"refused", Fault{Proxy: "postgres", Kind: Refused, Toxicity: 1}, nil, ""},
		{"reset half", Fault{Proxy: "redis", Kind: Reset, Toxicity: 0.5, Direction: Upstream}, nil, ""},
		{"bandwidth", Fault{Proxy: "redis", Kind: Bandwidth, RateKBps: 10}, nil, ""},
		{"slicer", Fault{Proxy: "redis", Kind: Slicer, AverageSize: 64, SizeVariation: 63, SliceDelay: 10 * time.Microsecond}, nil, ""},
		{"limit_data", Fault{Proxy: "redis", Kind: LimitData, Bytes: 1}, nil, ""},
		{"slow_close", Fault{Proxy: "redis", Kind: SlowClose, CloseDelay: time.Second}, nil, ""},

		{"zero fault", Fault{}, []string{"proxy", "kind"}, "kind: missing (want latency, blackhole"},
		{"unknown kind", Fault{Proxy: "redis", Kind: 99}, []string{"kind"}, "kind: unknown fault type Kind(99)"},
		{"unknown proxy", Fault{Proxy: "redsi", Kind: Blackhole}, []string{"proxy"},
			`proxy: unknown proxy "redsi" (known: redis, redis-replica, postgres)`},
		{"negative latency", Fault{Proxy: "redis", Kind: Latency, Latency: -time.Millisecond}, []string{"latency"},
			"latency: must not be negative"},
		{"zero latency", Fault{Proxy: "redis", Kind: Latency}, []string{"latency"}, "latency: must be positive"},
		{"sub-millisecond latency", Fault{Proxy: "redis", Kind: Latency, Latency: 1500 * time.Microsecond}, []string{"latency"},
			"latency: 1.5ms is not a whole number of milliseconds"},
		{"jitter over latency", Fault{Proxy: "redis", Kind: Latency, Latency: 10 * time.Millisecond, Jitter: 20 * time.Millisecond},
			[]string{"jitter"}, "jitter: 20ms exceeds the latency 10ms"},
		{"toxicity over 1", Fault{Proxy: "redis", Kind: Latency, Latency: time.Millisecond, Toxicity: 1.5}, []string{"toxicity"},
			"toxicity: 1.5 is outside [0, 1]"},
		{"negative toxicity", Fault{Proxy: "redis", Kind: Blackhole, Toxicity: -0.1}, []string{"toxicity"}, "outside [0, 1]"},
		{"NaN toxicity", Fault{Proxy: "redis", Kind: Blackhole, Toxicity: math.NaN()}, []string{"toxicity"}, "outside [0, 1]"},
		{"partial refused", Fault{Proxy: "redis", Kind: Refused, Toxicity: 0.5}, []string{"toxicity"}, "must be 0 or 1"},
		{"refused with direction", Fault{Proxy: "redis", Kind: Refused, Direction: Upstream}, []string{"direction"}, "not used by fault type refused"},
		{"unknown direction", Fault{Proxy: "redis", Kind: Blackhole, Direction: 7}, []string{"direction"}, "unknown direction Direction(7)"},
		{"parameter of another kind", Fault{Proxy: "redis", Kind: Latency, Latency: time.Millisecond, RateKBps: 5}, []string{"rate_kbps"},
			"rate_kbps: not used by fault type latency"},
		{"zero rate", Fault{Proxy: "redis", Kind: Bandwidth}, []string{"rate_kbps"}, "must be positive"},
		{"slicer sizes", Fault{Proxy: "redis", Kind: Slicer, AverageSize: 10, SizeVariation: 10}, []string{"size_variation"},
			"must be less than average_size (10)"},
		{"slicer without size", Fault{Proxy: "redis", Kind: Slicer}, []string{"average_size"}, "average_size: must be positive"},
		{"slicer delay unit", Fault{Proxy: "redis", Kind: Slicer, AverageSize: 1, SliceDelay: 1500 * time.Nanosecond}, []string{"slice_delay"},
			"not a whole number of microseconds"},
		{"negative bytes", Fault{Proxy: "redis", Kind: LimitData, Bytes: -1}, []string{"bytes"}, "bytes: must be positive"},
		{"zero close delay", Fault{Proxy: "redis", Kind: SlowClose}, []string{"close_delay"}, "close_delay: must be positive"},
		{"negative timeout", Fault{Proxy: "redis", Kind: Reset, Timeout: -time.Second}, []string{"timeout"}, "timeout: must not be negative"},
		{"everything wrong", Fault{Proxy: "redsi", Kind: Latency, Latency: -1, Toxicity: 2, Bytes: 3},
			[]string{"proxy", "toxicity", "latency", "bytes"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fault.Validate(known...)
			if diff := cmp.Diff(tt.want, fieldErrors(err)); diff != "" {
				t.Errorf("fields with errors (-want +got):\n%s\nerror: %v", diff, err)
			}
			if tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
	// Without a list of proxies any name goes.
	if err := (Fault{Proxy: "anything", Kind: Blackhole}).Validate(); err != nil {
		t.Errorf("Validate() without known proxies: %v", err)
	}
}

func TestWireToxics(t *testing.T) {
	tests := []struct {
		name  string
		fault Fault
		want  []wireToxic
	}{
		{"latency defaults to downstream, toxicity 1",
			Fault{Kind: Latency, Latency: 100 * time.Millisecond, Jitter: 5 * time.Millisecond},
			[]wireToxic{{Type: "latency", Stream: "downstream", Toxicity: 1, Attributes: map[string]int64{"latency": 100, "jitter": 5}}}},
		{"blackhole defaults to both",
			Fault{Kind: Blackhole},
			[]wireToxic{
				{Type: "timeout", Stream: "downstream", Toxicity: 1, Attributes: map[string]int64{"timeout": 0}},
				{Type: "timeout", Stream: "upstream", Toxicity: 1, Attributes: map[string]int64{"timeout": 0}},
			}},
		{"reset upstream after 2 s at 0.25",
			Fault{Kind: Reset, Direction: Upstream, Toxicity: 0.25, Timeout: 2 * time.Second},
			[]wireToxic{{Type: "reset_peer", Stream: "upstream", Toxicity: 0.25, Attributes: map[string]int64{"timeout": 2000}}}},
		{"bandwidth",
			Fault{Kind: Bandwidth, RateKBps: 10},
			[]wireToxic{{Type: "bandwidth", Stream: "downstream", Toxicity: 1, Attributes: map[string]int64{"rate": 10}}}},
		{"slicer delay in microseconds",
			Fault{Kind: Slicer, AverageSize: 16, SizeVariation: 4, SliceDelay: 3 * time.Millisecond},
			[]wireToxic{{Type: "slicer", Stream: "downstream", Toxicity: 1,
				Attributes: map[string]int64{"average_size": 16, "size_variation": 4, "delay": 3000}}}},
		{"limit_data",
			Fault{Kind: LimitData, Bytes: 1 << 20},
			[]wireToxic{{Type: "limit_data", Stream: "downstream", Toxicity: 1, Attributes: map[string]int64{"bytes": 1 << 20}}}},
		{"slow_close",
			Fault{Kind: SlowClose, CloseDelay: 1500 * time.Millisecond},
			[]wireToxic{{Type: "slow_close", Stream: "downstream", Toxicity: 1, Attributes: map[string]int64{"delay": 1500}}}},
		{"refused is no toxic", Fault{Kind: Refused}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.fault.wireToxics()); diff != "" {
				t.Errorf("wireToxics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFaultString(t *testing.T) {
	tests := []struct {
		fault Fault
		want  string
	}{
		{Fault{Proxy: "redis", Kind: Latency, Latency: 100 * time.Millisecond, Jitter: 10 * time.Millisecond},
			"latency 100ms±10ms downstream on redis"},
		{Fault{Proxy: "redis", Kind: Blackhole}, "blackhole both on redis"},
		{Fault{Proxy: "postgres", Kind: Refused}, "refused on postgres"},
		{Fault{Proxy: "redis", Kind: Reset, Toxicity: 0.5, Direction: Upstream}, "reset upstream toxicity 0.5 on redis"},
		{Fault{Proxy: "redis", Kind: Bandwidth, RateKBps: 10}, "bandwidth 10 KB/s downstream on redis"},
	}
	for _, tt := range tests {
		if got := tt.fault.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
