package toxics

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// Kind is a type of fault. The zero Kind is not a fault: [Fault.Validate]
// rejects it.
type Kind int

// The fault kinds. See the package documentation for what each does on the
// wire and which parameters it takes.
const (
	Latency   Kind = iota + 1 // Toxiproxy latency toxic: delay ± jitter
	Blackhole                 // Toxiproxy timeout toxic: data is swallowed
	Refused                   // the proxy is disabled: connections are refused
	Reset                     // Toxiproxy reset_peer toxic: TCP RST
	Bandwidth                 // Toxiproxy bandwidth toxic: rate limit
	Slicer                    // Toxiproxy slicer toxic: data in small pieces
	LimitData                 // Toxiproxy limit_data toxic: close after N bytes
	SlowClose                 // Toxiproxy slow_close toxic: delayed close
)

// kindNames are the names String returns and ParseKind accepts, indexed by
// Kind.
var kindNames = [...]string{
	Latency:   "latency",
	Blackhole: "blackhole",
	Refused:   "refused",
	Reset:     "reset",
	Bandwidth: "bandwidth",
	Slicer:    "slicer",
	LimitData: "limit_data",
	SlowClose: "slow_close",
}

// Kinds returns every fault kind, in declaration order.
func Kinds() []Kind {
	return []Kind{Latency, Blackhole, Refused, Reset, Bandwidth, Slicer, LimitData, SlowClose}
}

// String returns the kind's name, like "latency" or "limit_data".
func (k Kind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

func (k Kind) valid() bool { return k >= Latency && k <= SlowClose }

// toxicType returns the Toxiproxy toxic type that implements k, or "" for
// Refused, which is not a toxic.
func (k Kind) toxicType() string {
	switch k {
	case Blackhole:
		return "timeout"
	case Reset:
		return "reset_peer"
	case Refused:
		return ""
	default:
		return k.String()
	}
}

// kindList is the list of valid names for error messages.
func kindList() string {
	names := make([]string, 0, len(kindNames))
	for _, k := range Kinds() {
		names = append(names, k.String())
	}
	return strings.Join(names, ", ")
}

// ParseKind returns the kind named s: one of latency, blackhole, refused,
// reset, bandwidth, slicer, limit_data, slow_close. Toxiproxy's own names
// for the two that differ are accepted too: "timeout" is Blackhole and
// "reset_peer" is Reset. Anything else is an error, a *[FieldError] for the
// field "kind".
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if s == k.String() {
			return k, nil
		}
	}
	switch s {
	case "timeout":
		return Blackhole, nil
	case "reset_peer":
		return Reset, nil
	case "":
		return 0, &FieldError{Field: "kind", Msg: "missing (want " + kindList() + ")"}
	}
	return 0, &FieldError{Field: "kind", Msg: fmt.Sprintf("unknown fault type %q (want %s)", s, kindList())}
}

// Direction is the direction of the traffic a toxic acts on.
type Direction int

const (
	// DefaultDirection, the zero Direction, means the kind's own default:
	// Both for Blackhole and Reset, Downstream for the other toxics. It is
	// meaningless for Refused, which stops the whole proxy.
	DefaultDirection Direction = iota
	// Downstream is data from the server (upstream) to the client:
	// replies.
	Downstream
	// Upstream is data from the client to the server: requests.
	Upstream
	// Both applies the fault to each direction, as two toxics. For
	// Latency that adds the delay twice to every round trip.
	Both
)

// String returns "downstream", "upstream", "both", or "default" for the
// zero Direction.
func (d Direction) String() string {
	switch d {
	case DefaultDirection:
		return "default"
	case Downstream:
		return "downstream"
	case Upstream:
		return "upstream"
	case Both:
		return "both"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

func (d Direction) valid() bool { return d >= DefaultDirection && d <= Both }

// ParseDirection returns the direction named s: "downstream", "upstream" or
// "both". The empty string is the zero DefaultDirection. Anything else is
// an error, a *[FieldError] for the field "direction".
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "":
		return DefaultDirection, nil
	case "downstream":
		return Downstream, nil
	case "upstream":
		return Upstream, nil
	case "both":
		return Both, nil
	}
	return 0, &FieldError{Field: "direction", Msg: fmt.Sprintf("unknown direction %q (want downstream, upstream, both)", s)}
}

// Fault is one fault to inject on one Toxiproxy proxy. Only the fields of
// its Kind may be set; [Fault.Validate] rejects a parameter of another kind,
// so that a mapping mistake (a bandwidth rate on a latency fault) is not
// silently ignored.
//
// Durations are time.Duration; Toxiproxy counts in whole milliseconds
// (microseconds for the slicer's delay), and a duration that is not a whole
// number of that unit is rejected rather than rounded.
type Fault struct {
	// Proxy is the name of the Toxiproxy proxy, like "redis" or "postgres".
	Proxy string
	// Kind is the type of fault. Required.
	Kind Kind
	// Direction is the traffic the fault acts on; the zero value is the
	// kind's default (see [DefaultDirection]). Not used by Refused.
	Direction Direction
	// Toxicity is the probability in [0, 1] that a connection is affected;
	// 0 means 1 (every connection). Toxiproxy draws it per connection when
	// the toxic is attached to it, not per request: with 0.5, about half of
	// the connections suffer every request and the others none, and a
	// client with a small pool may see all or nothing. The draw is repeated
	// for open connections whenever a toxic is added to or removed from the
	// same proxy and direction. Refused accepts only 0 or 1.
	Toxicity float64

	// Latency is the delay added to each chunk of data. Latency: > 0,
	// whole milliseconds.
	Latency time.Duration
	// Jitter varies the delay uniformly within ±Jitter. Latency: 0 (none)
	// up to Latency, whole milliseconds.
	Jitter time.Duration

	// Timeout is, for Blackhole, how long a connection is held before
	// Toxiproxy closes it (0: held until the fault is removed) and, for
	// Reset, how long after data arrives the connection is reset (0: at
	// once). Whole milliseconds, >= 0.
	Timeout time.Duration

	// RateKBps is the bandwidth limit in KB/s (1 KB = 1000 bytes).
	// Bandwidth: > 0.
	RateKBps int

	// AverageSize is the average size in bytes of the pieces the data is
	// sliced into. Slicer: > 0.
	AverageSize int
	// SizeVariation varies each piece by up to ± this many bytes. Slicer:
	// 0 up to AverageSize-1.
	SizeVariation int
	// SliceDelay is the pause after each piece. Slicer: >= 0, whole
	// microseconds.
	SliceDelay time.Duration

	// Bytes is how many bytes pass on a connection (per direction) before
	// Toxiproxy closes it. LimitData: > 0.
	Bytes int64

	// CloseDelay is how long Toxiproxy waits before passing on the close
	// of a connection. SlowClose: > 0, whole milliseconds.
	CloseDelay time.Duration
}

// FieldError is one problem with one field of a [Fault]. Field is the
// field's snake_case name: proxy, kind, direction, toxicity, latency,
// jitter, timeout, rate_kbps, average_size, size_variation, slice_delay,
// bytes, close_delay.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate reports every problem with f at once, as errors.Join of
// *[FieldError] values (use errors.As to get at them); nil if f is valid.
// If knownProxies are given, f.Proxy must be one of them.
func (f Fault) Validate(knownProxies ...string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}

	switch {
	case f.Proxy == "":
		bad("proxy", "missing")
	case len(knownProxies) > 0 && !contains(knownProxies, f.Proxy):
		bad("proxy", "unknown proxy %q (known: %s)", f.Proxy, strings.Join(knownProxies, ", "))
	}

	switch {
	case f.Kind == 0:
		bad("kind", "missing (want %s)", kindList())
	case !f.Kind.valid():
		bad("kind", "unknown fault type %v (want %s)", f.Kind, kindList())
	}

	if !f.Direction.valid() {
		bad("direction", "unknown direction %v (want downstream, upstream, both)", f.Direction)
	} else if f.Kind == Refused && f.Direction != DefaultDirection {
		bad("direction", "not used by fault type refused, which stops the whole proxy")
	}

	switch {
	case math.IsNaN(f.Toxicity) || f.Toxicity < 0 || f.Toxicity > 1:
		bad("toxicity", "%v is outside [0, 1]", f.Toxicity)
	case f.Kind == Refused && f.Toxicity != 0 && f.Toxicity != 1:
		bad("toxicity", "fault type refused stops the whole proxy: toxicity must be 0 or 1, not %v", f.Toxicity)
	}

	// A parameter is checked when the kind uses it and must be zero
	// otherwise.
	uses := func(field string, set bool, kinds ...Kind) bool {
		if contains(kinds, f.Kind) {
			return true
		}
		if set && f.Kind.valid() {
			bad(field, "not used by fault type %v", f.Kind)
		}
		return false
	}
	durationIn := func(field string, d, unit time.Duration, positive bool) {
		switch {
		case d < 0:
			bad(field, "must not be negative, got %v", d)
		case positive && d == 0:
			bad(field, "must be positive for fault type %v", f.Kind)
		case d%unit != 0:
			bad(field, "%v is not a whole number of %s (Toxiproxy's unit)", d, unitName(unit))
		}
	}

	if uses("latency", f.Latency != 0, Latency) {
		durationIn("latency", f.Latency, time.Millisecond, true)
	}
	if uses("jitter", f.Jitter != 0, Latency) {
		durationIn("jitter", f.Jitter, time.Millisecond, false)
		if f.Jitter > f.Latency && f.Latency > 0 {
			bad("jitter", "%v exceeds the latency %v", f.Jitter, f.Latency)
		}
	}
	if uses("timeout", f.Timeout != 0, Blackhole, Reset) {
		durationIn("timeout", f.Timeout, time.Millisecond, false)
	}
	if uses("rate_kbps", f.RateKBps != 0, Bandwidth) && f.RateKBps <= 0 {
		bad("rate_kbps", "must be positive, got %d", f.RateKBps)
	}
	if uses("average_size", f.AverageSize != 0, Slicer) && f.AverageSize <= 0 {
		bad("average_size", "must be positive, got %d", f.AverageSize)
	}
	if uses("size_variation", f.SizeVariation != 0, Slicer) {
		switch {
		case f.SizeVariation < 0:
			bad("size_variation", "must not be negative, got %d", f.SizeVariation)
		case f.AverageSize > 0 && f.SizeVariation >= f.AverageSize:
			// Toxiproxy's slicer can slice out of range otherwise.
			bad("size_variation", "must be less than average_size (%d), got %d", f.AverageSize, f.SizeVariation)
		}
	}
	if uses("slice_delay", f.SliceDelay != 0, Slicer) {
		durationIn("slice_delay", f.SliceDelay, time.Microsecond, false)
	}
	if uses("bytes", f.Bytes != 0, LimitData) && f.Bytes <= 0 {
		bad("bytes", "must be positive, got %d", f.Bytes)
	}
	if uses("close_delay", f.CloseDelay != 0, SlowClose) {
		durationIn("close_delay", f.CloseDelay, time.Millisecond, true)
	}
	return errors.Join(errs...)
}

func unitName(unit time.Duration) string {
	if unit == time.Microsecond {
		return "microseconds"
	}
	return "milliseconds"
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ResolvedDirection returns the direction the fault acts on, the kind's
// default for DefaultDirection (see there).
func (f Fault) ResolvedDirection() Direction {
	if f.Direction != DefaultDirection {
		return f.Direction
	}
	switch f.Kind {
	case Blackhole, Reset, Refused:
		return Both
	default:
		return Downstream
	}
}

// String describes the fault for logs, like "latency 100ms±10ms downstream
// on redis".
func (f Fault) String() string {
	var b strings.Builder
	b.WriteString(f.Kind.String())
	switch f.Kind {
	case Latency:
		fmt.Fprintf(&b, " %v", f.Latency)
		if f.Jitter > 0 {
			fmt.Fprintf(&b, "±%v", f.Jitter)
		}
	case Blackhole, Reset:
		if f.Timeout > 0 {
			fmt.Fprintf(&b, " after %v", f.Timeout)
		}
	case Bandwidth:
		fmt.Fprintf(&b, " %d KB/s", f.RateKBps)
	case Slicer:
		fmt.Fprintf(&b, " %d±%d bytes", f.AverageSize, f.SizeVariation)
		if f.SliceDelay > 0 {
			fmt.Fprintf(&b, " every %v", f.SliceDelay)
		}
	case LimitData:
		fmt.Fprintf(&b, " %d bytes", f.Bytes)
	case SlowClose:
		fmt.Fprintf(&b, " %v", f.CloseDelay)
	}
	if f.Kind != Refused {
		fmt.Fprintf(&b, " %v", f.ResolvedDirection())
	}
	if f.Toxicity != 0 && f.Toxicity != 1 {
		fmt.Fprintf(&b, " toxicity %v", f.Toxicity)
	}
	fmt.Fprintf(&b, " on %s", f.Proxy)
	return b.String()
}

// wireToxic is one toxic as Toxiproxy's API takes it. This is the only
// place where durations become Toxiproxy's integers.
type wireToxic struct {
	Name       string           `json:"name"`
	Type       string           `json:"type"`
	Stream     string           `json:"stream"`
	Toxicity   float32          `json:"toxicity"`
	Attributes map[string]int64 `json:"attributes"`
}

// wireToxics returns the toxics that make up a valid fault of a toxic
// kind, one per stream, without names. It returns nil for Refused.
func (f Fault) wireToxics() []wireToxic {
	typ := f.Kind.toxicType()
	if typ == "" {
		return nil
	}
	ms := func(d time.Duration) int64 { return int64(d / time.Millisecond) }
	var attrs map[string]int64
	switch f.Kind {
	case Latency:
		attrs = map[string]int64{"latency": ms(f.Latency), "jitter": ms(f.Jitter)}
	case Blackhole, Reset:
		attrs = map[string]int64{"timeout": ms(f.Timeout)}
	case Bandwidth:
		attrs = map[string]int64{"rate": int64(f.RateKBps)}
	case Slicer:
		attrs = map[string]int64{
			"average_size":   int64(f.AverageSize),
			"size_variation": int64(f.SizeVariation),
			"delay":          int64(f.SliceDelay / time.Microsecond),
		}
	case LimitData:
		attrs = map[string]int64{"bytes": f.Bytes}
	case SlowClose:
		attrs = map[string]int64{"delay": ms(f.CloseDelay)}
	}
	toxicity := float32(f.Toxicity)
	if f.Toxicity == 0 {
		toxicity = 1
	}
	var streams []string
	switch f.ResolvedDirection() {
	case Downstream:
		streams = []string{"downstream"}
	case Upstream:
		streams = []string{"upstream"}
	case Both:
		streams = []string{"downstream", "upstream"}
	}
	out := make([]wireToxic, 0, len(streams))
	for _, s := range streams {
		out = append(out, wireToxic{Type: typ, Stream: s, Toxicity: toxicity, Attributes: attrs})
	}
	return out
}

// checkAddr reports whether addr is a usable host:port. A listen address
// may leave the host empty (every interface); an upstream may not.
func checkAddr(addr string, needHost bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if needHost && host == "" {
		return fmt.Errorf("address %q: missing host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("address %q: bad port %q", addr, port)
	}
	return nil
}
