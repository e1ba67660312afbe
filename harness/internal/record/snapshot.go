package record

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/flagstorm/flagstorm/internal/metric"
)

// Snapshot is a recorder's contents as data, to be written, read back
// (FromSnapshot) and merged with other runners' (Merge): every series
// (metric and tag set) with its count, exact sum, min, max and, for a
// trend, its HDR histogram in the standard V2 compressed encoding
// (base64, as hdrhistogram-go's Encode writes it and every HdrHistogram
// implementation reads it), and the per-second buckets.
type Snapshot struct {
	// Start is the recorder's zero: bucket 0 is the second after it.
	Start  time.Time `json:"start"`
	Layout Layout    `json:"layout"`
	// Requests and Failed are the totals AddRequest and AddBucket kept.
	Requests int64            `json:"requests"`
	Failed   int64            `json:"failed"`
	Series   []SeriesSnapshot `json:"series"`
	Buckets  []BucketSnapshot `json:"buckets"`
}

// SeriesSnapshot is one metric under one tag set.
type SeriesSnapshot struct {
	Metric string `json:"metric"`
	Tags   Tags   `json:"tags"`
	Kind   string `json:"kind"` // the catalog's: counter, gauge, rate, trend
	Count  int64  `json:"count"`
	// Sum is, for a counter or a trend, the sum of the values in
	// thousandths of the internal unit (nanoseconds for a trend of time,
	// thousandths of a byte for a counter of bytes), an exact integer;
	// for a rate, the non-zero samples.
	Sum int64 `json:"sum"`
	// Min, Max and Last are in the internal unit (µs for a trend of
	// time, the catalog's unit otherwise); absent when Count is 0.
	Min  float64 `json:"min,omitempty"`
	Max  float64 `json:"max,omitempty"`
	Last float64 `json:"last,omitempty"`
	// Seq orders the last updates of the series of one recorder.
	Seq uint64 `json:"seq,omitempty"`
	// Clamped counts trend values beyond the layout's highest value.
	Clamped int64 `json:"clamped,omitempty"`
	// Histogram is a trend's HDR histogram, V2 compressed, base64.
	Histogram string `json:"histogram,omitempty"`
}

// BucketSnapshot is one second of the time series; Bins are the
// non-empty latency bins as [bin, count] pairs, in bin order.
type BucketSnapshot struct {
	Second   int         `json:"second"`
	Requests int64       `json:"requests"`
	Failed   int64       `json:"failed"`
	Bins     [][2]uint32 `json:"bins,omitempty"`
}

// Snapshot returns the recorder's contents, series in a stable order.
func (r *Recorder) Snapshot() (Snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Snapshot{Start: r.start, Layout: r.layout, Requests: r.totals.requests, Failed: r.totals.failed}
	for k, v := range r.series {
		ss := SeriesSnapshot{Metric: k.metric, Tags: k.tags, Kind: v.kind.String(), Count: v.count, Sum: v.sum, Seq: v.seq, Clamped: v.clamped}
		if v.count > 0 {
			ss.Min, ss.Max, ss.Last = v.min, v.max, v.last
		}
		if v.hist != nil {
			enc, err := v.hist.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
			if err != nil {
				return Snapshot{}, fmt.Errorf("record: encode %s%s: %w", k.metric, tagString(k.tags), err)
			}
			ss.Histogram = string(enc)
		}
		s.Series = append(s.Series, ss)
	}
	slices.SortFunc(s.Series, func(a, b SeriesSnapshot) int {
		return cmp.Or(cmp.Compare(a.Metric, b.Metric), cmp.Compare(tagString(a.Tags), tagString(b.Tags)))
	})
	for _, b := range r.buckets {
		bs := BucketSnapshot{Second: b.Second, Requests: b.Requests, Failed: b.Failed}
		if b.dense != nil {
			for i, c := range b.dense {
				if c > 0 {
					bs.Bins = append(bs.Bins, [2]uint32{uint32(i), c})
				}
			}
		}
		for _, sb := range b.sparse {
			bs.Bins = append(bs.Bins, [2]uint32{uint32(sb.bin), sb.count})
		}
		s.Buckets = append(s.Buckets, bs)
	}
	return s, nil
}

// tagString is a tag set as text, for errors and ordering.
func tagString(t Tags) string {
	return fmt.Sprintf("{scenario:%s,name:%s,method:%s,status:%s,phase:%s,source:%s}", t.Scenario, t.Name, t.Method, t.Status, t.Phase, t.Source)
}

// Check reports whether l is a layout hdrhistogram can build: every
// problem, naming the field.
func (l Layout) Check() error {
	var errs []error
	if l.Lowest < 1 {
		errs = append(errs, fmt.Errorf("layout: lowest %d is below 1", l.Lowest))
	}
	if l.Highest < 2*l.Lowest {
		errs = append(errs, fmt.Errorf("layout: highest %d is below twice the lowest (%d)", l.Highest, l.Lowest))
	}
	if l.Digits < 1 || l.Digits > 5 {
		errs = append(errs, fmt.Errorf("layout: %d significant digits (1 to 5)", l.Digits))
	}
	return errors.Join(errs...)
}

// FromSnapshot makes a recorder from a snapshot, checking it: every
// metric in the catalog with the catalog's kind, every histogram decoding
// in the snapshot's layout with as many values as its series' count, and
// buckets in order with their bins adding up to their requests. An error
// names the series or second.
func FromSnapshot(s Snapshot) (*Recorder, error) {
	if err := s.Layout.Check(); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	r := newRecorder(s.Start, s.Layout)
	r.totals.requests, r.totals.failed = s.Requests, s.Failed
	for i, ss := range s.Series {
		where := fmt.Sprintf("series %d (%s%s)", i, ss.Metric, tagString(ss.Tags))
		d, ok := metric.Lookup(ss.Metric)
		if !ok {
			return nil, fmt.Errorf("record: %s: %w %q", where, ErrUnknownMetric, ss.Metric)
		}
		if ss.Kind != d.Kind.String() {
			return nil, fmt.Errorf("record: %s: kind %q, the catalog's is %s", where, ss.Kind, d.Kind)
		}
		k := key{ss.Metric, ss.Tags}
		if _, dup := r.series[k]; dup {
			return nil, fmt.Errorf("record: %s: listed twice", where)
		}
		if ss.Count < 0 || ss.Clamped < 0 || ss.Clamped > ss.Count {
			return nil, fmt.Errorf("record: %s: count %d, clamped %d", where, ss.Count, ss.Clamped)
		}
		for _, v := range []float64{ss.Min, ss.Max, ss.Last} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("record: %s: %v is not a value", where, v)
			}
		}
		v := &series{kind: d.Kind, count: ss.Count, sum: ss.Sum, min: math.Inf(1), max: math.Inf(-1), last: ss.Last, seq: ss.Seq, clamped: ss.Clamped}
		if ss.Count > 0 {
			v.min, v.max = ss.Min, ss.Max
		}
		switch {
		case d.Kind == metric.KindTrend:
			h, err := decodeHistogram(ss.Histogram, s.Layout)
			if err != nil {
				return nil, fmt.Errorf("record: %s: %w", where, err)
			}
			if h.TotalCount() != ss.Count {
				return nil, fmt.Errorf("record: %s: its histogram holds %d values, its count is %d", where, h.TotalCount(), ss.Count)
			}
			v.hist = h
		case ss.Histogram != "":
			return nil, fmt.Errorf("record: %s: a %s has no histogram", where, d.Kind)
		}
		r.series[k] = v
		r.seq = max(r.seq, v.seq)
	}
	next := 0
	for _, bs := range s.Buckets {
		if bs.Second < next {
			return nil, fmt.Errorf("record: bucket of second %d: out of order (after second %d)", bs.Second, next-1)
		}
		for len(r.buckets) < bs.Second {
			r.buckets = append(r.buckets, Bucket{Second: len(r.buckets), sealed: true})
		}
		b := Bucket{Second: bs.Second, Requests: bs.Requests, Failed: bs.Failed, sealed: true}
		var n int64
		prev := -1
		for _, bin := range bs.Bins {
			if int(bin[0]) >= binCount || int(bin[0]) <= prev || bin[1] == 0 {
				return nil, fmt.Errorf("record: bucket of second %d: bin %d (count %d) is out of range, out of order or empty", bs.Second, bin[0], bin[1])
			}
			prev = int(bin[0])
			n += int64(bin[1])
			b.sparse = append(b.sparse, sparseBin{bin: uint16(bin[0]), count: bin[1]})
		}
		if n != b.Requests || b.Failed < 0 || b.Failed > b.Requests {
			return nil, fmt.Errorf("record: bucket of second %d: %d requests, %d failed, %d in its bins", bs.Second, b.Requests, b.Failed, n)
		}
		r.buckets = append(r.buckets, b)
		next = bs.Second + 1
	}
	return r, nil
}

// decodeHistogram decodes a V2 compressed histogram and checks its
// layout.
func decodeHistogram(enc string, l Layout) (*hdrhistogram.Histogram, error) {
	if enc == "" {
		return nil, errors.New("a trend without its histogram")
	}
	h, err := hdrhistogram.Decode([]byte(enc))
	if err != nil {
		return nil, fmt.Errorf("histogram: %w", err)
	}
	if got := (Layout{Lowest: h.LowestTrackableValue(), Highest: h.HighestTrackableValue(), Digits: int(h.SignificantFigures())}); got != l {
		return nil, fmt.Errorf("histogram layout %s differs from the recorder's %s", got, l)
	}
	return h, nil
}

// Layout is the recorder's histogram layout.
func (r *Recorder) Layout() Layout { return r.layout }

// LayoutError is Merge's error for recorders whose histograms cannot be
// merged exactly: Index is the first recorder whose layout differs from
// recorder 0's.
type LayoutError struct {
	Index       int
	Want, Found Layout
}

func (e *LayoutError) Error() string {
	return fmt.Sprintf("record: recorder %d's histogram layout (%s) differs from recorder 0's (%s): histograms merge exactly only within one layout", e.Index, e.Found, e.Want)
}

// Merge returns one recorder holding what recs recorded, as if one
// recorder had recorded it all: trends merge their histograms exactly
// (bin by bin), counters add their sums, rates their non-zero samples and
// their counts, buckets add second by second, min and max are the
// smallest and largest. Gauges, being levels rather than sums, take by
// the catalog's unit: a gauge of time (target_ready_time) the longest,
// any other (vus, vus_max) the sum of the recorders' values, since each
// runner holds its share (its min and max the sums of theirs: bounds).
//
// The merged recorder starts at recs[0]'s start; another recorder's
// seconds are shifted by the whole seconds its start differs by (a
// fraction of a second rounds). Every layout must equal recs[0]'s: a
// *LayoutError otherwise. recs are only read.
func Merge(recs ...*Recorder) (*Recorder, error) {
	if len(recs) == 0 {
		return nil, errors.New("record: nothing to merge")
	}
	l := recs[0].Layout()
	for i, r := range recs {
		if r.layout != l {
			return nil, &LayoutError{Index: i, Want: l, Found: r.layout}
		}
	}
	out := newRecorder(recs[0].start, l)
	for _, r := range recs {
		r.mu.Lock()
		shift := int(math.Round(float64(r.start.Sub(out.start)) / float64(time.Second)))
		err := mergeInto(out, r, shift)
		r.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	for i := range out.buckets {
		out.buckets[i].seal()
	}
	return out, nil
}

// mergeInto adds r (locked by the caller) into out, r's seconds shifted
// by shift.
func mergeInto(out, r *Recorder, shift int) error {
	out.totals.requests += r.totals.requests
	out.totals.failed += r.totals.failed
	for k, s := range r.series {
		o := out.series[k]
		if o == nil {
			o = newSeries(s.kind, out.layout)
			out.series[k] = o
		}
		if err := o.merge(k.metric, s); err != nil {
			return err
		}
		out.seq = max(out.seq, o.seq)
	}
	for len(out.buckets) < len(r.buckets)+shift {
		out.buckets = append(out.buckets, Bucket{Second: len(out.buckets)})
	}
	for _, b := range r.buckets {
		if b.Requests == 0 {
			continue
		}
		i := max(b.Second+shift, 0)
		for len(out.buckets) <= i {
			out.buckets = append(out.buckets, Bucket{Second: len(out.buckets)})
		}
		ob := &out.buckets[i]
		ob.Requests += b.Requests
		ob.Failed += b.Failed
		if ob.dense == nil {
			ob.dense = new([binCount]uint32)
			for _, sb := range ob.sparse {
				ob.dense[sb.bin] += sb.count
			}
			ob.sparse, ob.sealed = nil, false
		}
		if b.dense != nil {
			for bin, c := range b.dense {
				ob.dense[bin] += c
			}
		}
		for _, sb := range b.sparse {
			ob.dense[sb.bin] += sb.count
		}
	}
	return nil
}

// merge adds o's samples into s (both of one metric and tag set).
func (s *series) merge(name string, o *series) error {
	if o.count == 0 {
		return nil
	}
	first, later := s.count == 0, o.seq >= s.seq
	s.count += o.count
	s.clamped += o.clamped
	s.seq = max(s.seq, o.seq)
	if s.kind != metric.KindGauge {
		s.sum += o.sum
		s.min, s.max = min(s.min, o.min), max(s.max, o.max)
		if later {
			s.last = o.last
		}
		if s.hist != nil && o.hist != nil {
			if dropped := s.hist.Merge(o.hist); dropped != 0 {
				return fmt.Errorf("record: merge %s: %d values outside the histogram's range", name, dropped)
			}
		}
		return nil
	}
	d, _ := metric.Lookup(name)
	switch {
	case first:
		s.min, s.max, s.last = o.min, o.max, o.last
	case d.Unit.IsTime():
		s.min, s.max, s.last = min(s.min, o.min), max(s.max, o.max), max(s.last, o.last)
	default:
		s.min, s.max, s.last = s.min+o.min, s.max+o.max, s.last+o.last
	}
	return nil
}
