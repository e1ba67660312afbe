package segment

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// ErrInvalid matches (errors.Is) every parse and validation error of this
// package. The errors' text does not repeat it: it names the input and
// says what is wrong.
var ErrInvalid = errors.New("segment: invalid")

type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// Segment is the part From to To of a run, with 0 <= From < To <= 1, in
// exact rationals. The zero Segment (nil bounds) means the whole run, as
// [Full] does.
type Segment struct {
	From, To *big.Rat
}

// Full returns the whole run, 0:1.
func Full() Segment {
	return Segment{From: new(big.Rat), To: big.NewRat(1, 1)}
}

// norm returns s with nil bounds replaced by 0 and 1.
func (s Segment) norm() Segment {
	if s.From == nil {
		s.From = new(big.Rat)
	}
	if s.To == nil {
		s.To = big.NewRat(1, 1)
	}
	return s
}

// IsFull reports whether s is the whole run.
func (s Segment) IsFull() bool {
	s = s.norm()
	return s.From.Sign() == 0 && s.To.Cmp(one) == 0
}

// Equal reports whether s and o are the same part of the run.
func (s Segment) Equal(o Segment) bool {
	s, o = s.norm(), o.norm()
	return s.From.Cmp(o.From) == 0 && s.To.Cmp(o.To) == 0
}

// Len returns To - From.
func (s Segment) Len() *big.Rat {
	s = s.norm()
	return new(big.Rat).Sub(s.To, s.From)
}

// String returns the canonical form "FROM:TO" with reduced fractions, e.g.
// "1/4:1/2", "0:1".
func (s Segment) String() string {
	s = s.norm()
	return ratString(s.From) + ":" + ratString(s.To)
}

// ratString writes an integer without "/1".
func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return r.String()
}

var one = big.NewRat(1, 1)

// Parse parses an execution segment as k6's --execution-segment takes it:
// "FROM:TO", each bound a fraction ("1/4"), a decimal ("0.25") or a
// percentage ("25%"); a bare value v means 0:v; "" means the whole run
// 0:1. Bounds must satisfy 0 <= FROM < TO <= 1. Errors name the input and
// say what is wrong.
func Parse(s string) (Segment, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return Full(), nil
	}
	fromStr, toStr, ok := strings.Cut(in, ":")
	if !ok {
		fromStr, toStr = "0", in
	}
	from, err := parseValue(fromStr)
	if err != nil {
		return Segment{}, invalid("execution segment %q: FROM: %v", s, err)
	}
	to, err := parseValue(toStr)
	if err != nil {
		return Segment{}, invalid("execution segment %q: TO: %v", s, err)
	}
	switch {
	case to.Cmp(one) > 0:
		return Segment{}, invalid("execution segment %q: TO (%s) must be at most 1", s, ratString(to))
	case from.Cmp(to) >= 0:
		return Segment{}, invalid("execution segment %q: FROM (%s) must be less than TO (%s)", s, ratString(from), ratString(to))
	}
	return Segment{From: from, To: to}, nil
}

// parseValue parses one bound: "a/b", "d", "d.d", ".d" or either decimal
// form followed by "%". Only decimal digits are accepted (no signs,
// exponents or base prefixes, which big.Rat.SetString would take).
func parseValue(s string) (*big.Rat, error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return nil, errors.New("empty value (want a fraction like 1/4, a decimal like 0.25 or a percentage like 25%)")
	}
	if num, den, ok := strings.Cut(v, "/"); ok {
		n, err := parseDigits(num)
		if err != nil {
			return nil, fmt.Errorf("%q: numerator: %v", v, err)
		}
		d, err := parseDigits(den)
		if err != nil {
			return nil, fmt.Errorf("%q: denominator: %v", v, err)
		}
		if d.Sign() == 0 {
			return nil, fmt.Errorf("%q: the denominator must not be 0", v)
		}
		return new(big.Rat).SetFrac(n, d), nil
	}
	pct := strings.HasSuffix(v, "%")
	r, err := parseDecimal(strings.TrimSuffix(v, "%"))
	if err != nil {
		return nil, fmt.Errorf("%q: %v", v, err)
	}
	if pct {
		r.Quo(r, big.NewRat(100, 1))
	}
	return r, nil
}

const maxDigits = 30

func parseDigits(s string) (*big.Int, error) {
	if s == "" {
		return nil, errors.New("no digits")
	}
	if len(s) > maxDigits {
		return nil, fmt.Errorf("more than %d digits", maxDigits)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("%q is not a digit", c)
		}
	}
	n, _ := new(big.Int).SetString(s, 10)
	return n, nil
}

func parseDecimal(s string) (*big.Rat, error) {
	ip, fp, dot := strings.Cut(s, ".")
	switch {
	case dot && fp == "":
		return nil, errors.New("no digits after the decimal point")
	case ip == "" && !dot:
		return nil, errors.New("no digits (want a fraction like 1/4, a decimal like 0.25 or a percentage like 25%)")
	case ip == "":
		ip = "0" // ".25"
	}
	n, err := parseDigits(ip + fp)
	if err != nil {
		return nil, err
	}
	d := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(fp))), nil)
	return new(big.Rat).SetFrac(n, d), nil
}

// Sequence is the boundaries of segments that together make a whole run,
// e.g. 0, 1/4, 1/2, 1: strictly increasing from 0 to 1. All runners of one
// run use the same sequence, so that each knows which indexes the others
// own. A nil Sequence means none was given.
type Sequence []*big.Rat

// ParseSequence parses k6's --execution-segment-sequence: comma-separated
// values (fractions, decimals or percentages) strictly increasing from 0 to
// 1, e.g. "0,1/4,1/2,1". "" returns a nil Sequence (none given).
func ParseSequence(s string) (Sequence, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return nil, nil
	}
	parts := strings.Split(in, ",")
	seq := make(Sequence, 0, len(parts))
	for i, p := range parts {
		r, err := parseValue(p)
		if err != nil {
			return nil, invalid("execution segment sequence %q: value #%d: %v", s, i+1, err)
		}
		seq = append(seq, r)
	}
	if err := seq.check(); err != nil {
		return nil, invalid("execution segment sequence %q: %v", s, err)
	}
	return seq, nil
}

// check reports why seq is not a valid sequence.
func (seq Sequence) check() error {
	if len(seq) < 2 {
		return errors.New("at least two values are needed (0 and 1)")
	}
	if seq[0].Sign() != 0 {
		return fmt.Errorf("the first value (%s) must be 0", ratString(seq[0]))
	}
	if last := seq[len(seq)-1]; last.Cmp(one) != 0 {
		return fmt.Errorf("the last value (%s) must be 1", ratString(last))
	}
	for i := 1; i < len(seq); i++ {
		if seq[i].Cmp(seq[i-1]) <= 0 {
			return fmt.Errorf("values must increase: %s (#%d) after %s", ratString(seq[i]), i+1, ratString(seq[i-1]))
		}
	}
	return nil
}

// String returns the canonical form, e.g. "0,1/4,1/2,1".
func (seq Sequence) String() string {
	var b strings.Builder
	for i, r := range seq {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(ratString(r))
	}
	return b.String()
}

// Segments returns the segments between consecutive values.
func (seq Sequence) Segments() []Segment {
	if len(seq) < 2 {
		return nil
	}
	segs := make([]Segment, 0, len(seq)-1)
	for i := 1; i < len(seq); i++ {
		segs = append(segs, Segment{From: new(big.Rat).Set(seq[i-1]), To: new(big.Rat).Set(seq[i])})
	}
	return segs
}

// Split returns n equal segments, i/n:(i+1)/n, and their sequence 0, 1/n,
// ..., 1. n < 1 returns nil, nil.
func Split(n int) ([]Segment, Sequence) {
	if n < 1 {
		return nil, nil
	}
	seq := make(Sequence, n+1)
	for i := range seq {
		seq[i] = big.NewRat(int64(i), int64(n))
	}
	return seq.Segments(), seq
}

// Cover reports whether segs cover 0 to 1 exactly once, in any order: nil,
// or an error (matching ErrInvalid) naming every gap ("no runner covers
// 1/2:3/4") and every overlap ("1/4:1/2 is covered by 0:1/2 and 1/4:3/4").
func Cover(segs []Segment) error {
	sorted := make([]Segment, len(segs))
	for i, s := range segs {
		sorted[i] = s.norm()
	}
	slices.SortStableFunc(sorted, func(a, b Segment) int {
		if c := a.From.Cmp(b.From); c != 0 {
			return c
		}
		return a.To.Cmp(b.To)
	})
	var errs []error
	if len(sorted) == 0 {
		return invalid("no runner covers 0:1")
	}
	// Walk the segments in order of From; reach is how far 0 to 1 is
	// covered so far, by the segment reachBy.
	reach := new(big.Rat)
	var reachBy Segment
	for _, s := range sorted {
		if bad := s.From.Sign() < 0 || s.To.Cmp(one) > 0 || s.From.Cmp(s.To) >= 0; bad {
			errs = append(errs, invalid("%s is not a segment of 0:1", s))
			continue
		}
		switch c := s.From.Cmp(reach); {
		case c > 0:
			errs = append(errs, invalid("no runner covers %s", Segment{From: reach, To: s.From}))
		case c < 0:
			end := minRat(reach, s.To)
			errs = append(errs, invalid("%s is covered by more than one runner (%s and %s)", Segment{From: s.From, To: end}, reachBy, s))
		}
		if s.To.Cmp(reach) > 0 {
			reach, reachBy = s.To, s
		}
	}
	if reach.Cmp(one) < 0 {
		errs = append(errs, invalid("no runner covers %s", Segment{From: reach, To: one}))
	}
	return errors.Join(errs...)
}

func minRat(a, b *big.Rat) *big.Rat {
	if a.Cmp(b) <= 0 {
		return a
	}
	return b
}
