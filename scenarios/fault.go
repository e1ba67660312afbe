package scenarios

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"github.com/flagstorm/flagstorm/toxics"
)

// The Toxiproxy proxies of the local stack (ARCHITECTURE.md §3) that a
// fault may name.
const (
	ProxyRedis        = "redis"
	ProxyRedisReplica = "redis-replica"
	ProxyPostgres     = "postgres"
)

// KnownProxies returns the proxies a fault may name.
func KnownProxies() []string { return []string{ProxyRedis, ProxyRedisReplica, ProxyPostgres} }

// FaultSpec is a fault as a scenario file writes it: the toxics.Fault
// fields with the type and direction still names, so that Fault can say
// what is wrong with them. Durations are Go durations in the file
// ("100ms"); toxics checks that they are whole Toxiproxy units.
type FaultSpec struct {
	Proxy     string  // redis, redis-replica or postgres
	Type      string  // a toxics.Kind name: latency, blackhole, refused, reset, bandwidth, slicer, limit_data, slow_close (or timeout, reset_peer)
	Direction string  // downstream, upstream or both; "" is the kind's default
	Toxicity  float64 // (0, 1]; 0 (absent) means every connection

	Latency       time.Duration
	Jitter        time.Duration
	Timeout       time.Duration
	RateKBps      int
	AverageSize   int
	SizeVariation int
	SliceDelay    time.Duration
	Bytes         int64
	CloseDelay    time.Duration

	// Line is where the fault is in the file; 0 if built in code.
	Line int
}

// Fault returns the fault as toxics applies it. The error, if any, joins
// every problem as *toxics.FieldError values, whose Field is toxics'
// snake_case name (kind for Type); a Spec that passed Validate has none.
func (f FaultSpec) Fault() (toxics.Fault, error) {
	var errs []error
	kind, kindErr := toxics.ParseKind(f.Type)
	dir, dirErr := toxics.ParseDirection(f.Direction)
	errs = append(errs, kindErr, dirErr)
	out := toxics.Fault{
		Proxy:         f.Proxy,
		Kind:          kind,
		Direction:     dir,
		Toxicity:      f.Toxicity,
		Latency:       f.Latency,
		Jitter:        f.Jitter,
		Timeout:       f.Timeout,
		RateKBps:      f.RateKBps,
		AverageSize:   f.AverageSize,
		SizeVariation: f.SizeVariation,
		SliceDelay:    f.SliceDelay,
		Bytes:         f.Bytes,
		CloseDelay:    f.CloseDelay,
	}
	// Validate reports a kind or direction that did not parse again, as
	// missing; keep the parser's message.
	for _, err := range unwrap(out.Validate(KnownProxies()...)) {
		var fe *toxics.FieldError
		if errors.As(err, &fe) && (fe.Field == "kind" && kindErr != nil || fe.Field == "direction" && dirErr != nil) {
			continue
		}
		errs = append(errs, err)
	}
	// In the order of the file's keys, as toxics orders its own.
	slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(faultErrorRank(a), faultErrorRank(b)) })
	if err := errors.Join(errs...); err != nil {
		return toxics.Fault{}, err
	}
	return out, nil
}

func faultErrorRank(err error) int {
	var fe *toxics.FieldError
	if errors.As(err, &fe) {
		return slices.Index(faultKeys, faultKey[fe.Field])
	}
	return len(faultKeys)
}

// faultKey maps toxics.FieldError's field names to the file's keys.
var faultKey = map[string]string{
	"proxy":          "proxy",
	"kind":           "type",
	"direction":      "direction",
	"toxicity":       "toxicity",
	"latency":        "latency",
	"jitter":         "jitter",
	"timeout":        "timeout",
	"rate_kbps":      "rateKBps",
	"average_size":   "averageSize",
	"size_variation": "sizeVariation",
	"slice_delay":    "sliceDelay",
	"bytes":          "bytes",
	"close_delay":    "closeDelay",
}

// unwrap returns the errors errors.Join joined, or err alone.
func unwrap(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
