package segment

import (
	"errors"
	"math/big"
	"testing"
)

// FuzzParse checks that Parse never panics, that what it accepts is a
// segment of 0:1 whose canonical form parses back to the same segment,
// and that what it rejects matches ErrInvalid.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "0:1", "1/4:1/2", "0.25:50%", "1/3", "25%", ".5:1", "1/2:1/4", "0:3/2", "1/0", "0x1/4", "1e-1", "1.:1", "%", "0:1/2:3/4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seg, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q): %v does not match ErrInvalid", s, err)
			}
			return
		}
		if seg.From.Sign() < 0 || seg.From.Cmp(seg.To) >= 0 || seg.To.Cmp(big.NewRat(1, 1)) > 0 {
			t.Fatalf("Parse(%q) = %s: not 0 <= FROM < TO <= 1", s, seg)
		}
		back, err := Parse(seg.String())
		if err != nil || !back.Equal(seg) {
			t.Fatalf("Parse(%q) = %s, which parses back as %v, %v", s, seg, back, err)
		}
	})
}

// FuzzParseSequence checks that ParseSequence never panics, that what it
// accepts round-trips through its canonical form and covers 0:1 exactly
// once, and that every segment of a coarse accepted sequence gets a Tuple
// whose shares add up.
func FuzzParseSequence(f *testing.F) {
	for _, s := range []string{"", "0,1", "0,1/4,1/2,1", "0,25%,0.5,3/4,1", "0,1/2,1/4,1", "1/4,1", "0,,1", "0,1/3,2/3,1", "0,50%,80%,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seq, err := ParseSequence(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseSequence(%q): %v does not match ErrInvalid", s, err)
			}
			return
		}
		if seq == nil {
			return
		}
		back, err := ParseSequence(seq.String())
		if err != nil || back.String() != seq.String() {
			t.Fatalf("ParseSequence(%q) = %s, which parses back as %v, %v", s, seq, back, err)
		}
		if err := Cover(seq.Segments()); err != nil {
			t.Fatalf("ParseSequence(%q) = %s: its segments do not cover 0:1: %v", s, seq, err)
		}
		if len(seq) > 64 || lcdOf(seq) > 1<<12 {
			return // keep each input fast; the limits are tested elsewhere
		}
		const n = 1000
		var sum int64
		for _, seg := range seq.Segments() {
			tu, err := NewTuple(seg, seq)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("NewTuple(%s, %s): %v", seg, seq, err)
				}
				return // too fine
			}
			sum += tu.Scale(n)
		}
		if sum != n {
			t.Fatalf("sequence %s: the segments' Scale(%d) add up to %d", seq, n, sum)
		}
	})
}

// lcdOf returns the least common denominator of seq's segments' lengths,
// or 1<<62 if it is larger.
func lcdOf(seq Sequence) int64 {
	l := big.NewInt(1)
	for _, seg := range seq.Segments() {
		d := seg.Len().Denom()
		g := new(big.Int).GCD(nil, nil, l, d)
		l.Mul(l, new(big.Int).Quo(d, g))
		if l.BitLen() > 62 {
			return 1 << 62
		}
	}
	return l.Int64()
}
