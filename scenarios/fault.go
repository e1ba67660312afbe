package scenarios

import (
	"errors"
	"slices"

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
