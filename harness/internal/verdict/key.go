package verdict

import "github.com/flagstorm/flagstorm/internal/metric"

// Tag is one name:value pair of a submetric selector (metric.Tag).
type Tag = metric.Tag

// Tags is a selector: the tags a sample must carry to count towards a
// submetric (metric.Tags).
type Tags = metric.Tags

// ParseKey parses a threshold key with metric's grammar
// (metric.ParseKey); errors are *metric.KeyError.
func ParseKey(key string) (name string, tags Tags, err error) { return metric.ParseKey(key) }
