package verdict

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/internal/metric"
)

// The grammar's cases are metric's (metric/key_test.go); these check
// that verdict forwards to it and places its messages.
func TestParseKeyIsMetrics(t *testing.T) {
	name, tags, err := ParseKey(" http_req_duration { source:db, phase:outage } ")
	if err != nil || name != "http_req_duration" || !cmp.Equal(tags, Tags{{Name: "phase", Value: "outage"}, {Name: "source", Value: "db"}}) {
		t.Errorf("ParseKey = %q %v %v", name, tags, err)
	}
	_, _, err = ParseKey("m{a:b,}")
	if ke, ok := errors.AsType[*metric.KeyError](err); !ok || ke.Key != "m{a:b,}" {
		t.Errorf("ParseKey error %#v, want a *metric.KeyError", err)
	}
	_, err = Parse(map[string][]Spec{"m{a:b,}": specs("avg<1")}, DefaultCatalog())
	if want := `threshold key "m{a:b,}": empty tag in the selector (a stray ',')`; err == nil || err.Error() != want {
		t.Errorf("Parse error %v, want %q", err, want)
	}
}
