package segment

import (
	"math/big"
	"slices"
	"sort"
)

// Limits on a sequence's striping, so that building a [Tuple] is fast and
// small: the least common denominator of the segments' lengths, and the
// work of striping (segments times the denominator).
const (
	MaxDenominator = 1 << 20
	maxStripeWork  = 1 << 26
)

// Tuple is a segment within its sequence: what one runner of a run split
// by the sequence owns. The sequence's segments stripe the indexes 0, 1, 2,
// ... (VUs, iterations): in every block of L consecutive indexes, L the
// least common denominator of the segments' lengths, a segment of length
// l owns l·L of them, spread over the block, and the pattern repeats from
// block to block. So for every n, the segments of one sequence own
// together exactly the indexes 0 to n-1, each exactly once, and each owns
// close to its share of them at every n, not only at multiples of L.
//
// The pattern within a block is fixed by the sequence alone, so every
// runner computes the same one without talking to the others: the
// segments take their indexes in turn, first the segment starting at 0,
// then the others biggest first (equal sizes in sequence order); a segment
// owning c of the m indexes still free takes the free indexes at positions
// ceil(j·m/c), j = 0..c-1. So the segment starting at 0 always owns index
// 0 (the runner that owns the fault timeline), and the examples k6
// published agree:
//   - The sequence 0, 1/2, 4/5, 1 over 10 indexes gives 0, 2, 4, 6, 8 to
//     0:1/2, then 1, 5, 9 to 1/2:4/5 and 3, 7 to 4/5:1: the "Striped"
//     column of the table in k6's design discussion of execution segments
//     (https://github.com/grafana/k6/issues/997, 10 pieces split 50%, 30%,
//     20%).
//   - The segment 0:1/100 of 0, 1/100, 1 gets 1 of 2 VUs, and 0:1/3 (of 0,
//     1/3, 1) gets 34 of 100: the figures k6 printed in
//     https://github.com/grafana/k6/issues/1514 ("Segmentation issues").
//
// A Tuple is immutable and safe for concurrent use.
type Tuple struct {
	seg     Segment
	seq     Sequence
	pos     int     // seg is seq[pos]:seq[pos+1]
	lcd     int64   // L
	offsets []int64 // the indexes seg owns in [0, L), increasing; len >= 1
}

// NewTuple returns seg within seq. A nil seq means k6's default: the
// sequence 0, FROM, TO, 1 (without repeated values). A zero seg means the
// whole run. seg must be one of seq's segments (consecutive values).
func NewTuple(seg Segment, seq Sequence) (*Tuple, error) {
	seg = seg.norm()
	if seg.From.Sign() < 0 || seg.To.Cmp(one) > 0 || seg.From.Cmp(seg.To) >= 0 {
		return nil, invalid("execution segment %s: want 0 <= FROM < TO <= 1", seg)
	}
	if seq == nil {
		seq = Sequence{new(big.Rat)}
		for _, r := range []*big.Rat{seg.From, seg.To, one} {
			if r.Cmp(seq[len(seq)-1]) > 0 {
				seq = append(seq, new(big.Rat).Set(r))
			}
		}
	} else if err := seq.check(); err != nil {
		return nil, invalid("execution segment sequence %s: %v", seq, err)
	}
	pos := -1
	for i := 0; i+1 < len(seq); i++ {
		if seq[i].Cmp(seg.From) == 0 && seq[i+1].Cmp(seg.To) == 0 {
			pos = i
			break
		}
	}
	if pos < 0 {
		return nil, invalid("execution segment %s is not one of the segments of the sequence %s (consecutive values)", seg, seq)
	}
	t := &Tuple{
		seg: Segment{From: new(big.Rat).Set(seg.From), To: new(big.Rat).Set(seg.To)},
		seq: slices.Clone(seq),
		pos: pos,
	}
	if err := t.stripe(); err != nil {
		return nil, err
	}
	return t, nil
}

// stripe computes L and the offsets of t's segment.
func (t *Tuple) stripe() error {
	n := len(t.seq) - 1
	lens := make([]*big.Rat, n)
	lcd := big.NewInt(1)
	for i := range n {
		lens[i] = new(big.Rat).Sub(t.seq[i+1], t.seq[i])
		d := lens[i].Denom()
		g := new(big.Int).GCD(nil, nil, lcd, d)
		lcd.Mul(lcd, new(big.Int).Quo(d, g))
		if lcd.Cmp(big.NewInt(MaxDenominator)) > 0 {
			return invalid("execution segment sequence %s: the least common denominator of its segments' lengths exceeds %d; use coarser values", t.seq, MaxDenominator)
		}
	}
	L := lcd.Int64()
	if int64(n)*L > maxStripeWork {
		return invalid("execution segment sequence %s: %d segments over a common denominator of %d is too fine; use fewer or coarser segments", t.seq, n, L)
	}
	counts := make([]int64, n)
	for i, l := range lens {
		c := new(big.Int).Mul(l.Num(), big.NewInt(L))
		counts[i] = c.Quo(c, l.Denom()).Int64()
	}
	// The segment starting at 0 first, then biggest first.
	order := make([]int, 0, n)
	for i := 1; i < n; i++ {
		order = append(order, i)
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case counts[a] > counts[b]:
			return -1
		case counts[a] < counts[b]:
			return 1
		}
		return 0
	})
	order = append([]int{0}, order...)
	free := make([]int64, L)
	for i := range free {
		free[i] = int64(i)
	}
	for _, s := range order {
		m, c := int64(len(free)), counts[s]
		taken := make([]int64, 0, c)
		rest := make([]int64, 0, m-c)
		// Take the free indexes at positions ceil(j·m/c), j = 0..c-1:
		// distinct, since m >= c.
		next, j := int64(0), int64(0)
		for p, idx := range free {
			if j < c && int64(p) == next {
				taken = append(taken, idx)
				j++
				next = ceilDiv(j*m, c)
			} else {
				rest = append(rest, idx)
			}
		}
		if s == t.pos {
			t.lcd, t.offsets = L, taken
			return nil
		}
		free = rest
	}
	return invalid("execution segment %s is not in the sequence %s", t.seg, t.seq) // unreachable: NewTuple found it
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// Segment returns the tuple's segment.
func (t *Tuple) Segment() Segment { return t.seg }

// Sequence returns the tuple's sequence (the default one if none was
// given).
func (t *Tuple) Sequence() Sequence { return slices.Clone(t.seq) }

// Index returns the position of the segment in the sequence, from 0.
func (t *Tuple) Index() int { return t.pos }

// IsFull reports whether the tuple owns every index.
func (t *Tuple) IsFull() bool { return t.lcd == 1 }

// String returns "SEGMENT in SEQUENCE", e.g. "1/4:1/2 in 0,1/4,1/2,1".
func (t *Tuple) String() string { return t.seg.String() + " in " + t.seq.String() }

// Scale returns how many of the indexes 0 to n-1 the segment owns: its
// share of n whole things (VUs, iterations). The Scale of the segments of
// one sequence add up to n exactly, and Scale never decreases as n grows.
// n <= 0 gives 0.
func (t *Tuple) Scale(n int64) int64 {
	if n <= 0 {
		return 0
	}
	q, r := n/t.lcd, n%t.lcd
	return q*int64(len(t.offsets)) + int64(sort.Search(len(t.offsets), func(k int) bool { return t.offsets[k] >= r }))
}

// Owns reports whether the segment owns index i (i >= 0).
func (t *Tuple) Owns(i int64) bool {
	if i < 0 {
		return false
	}
	_, ok := slices.BinarySearch(t.offsets, i%t.lcd)
	return ok
}

// Nth returns the k-th index the segment owns, from k = 0: Nth(k) is the
// index i with Owns(i) and Scale(i) == k.
func (t *Tuple) Nth(k int64) int64 {
	c := int64(len(t.offsets))
	return k/c*t.lcd + t.offsets[k%c]
}

// Iter returns an iterator over the indexes the segment owns, in
// increasing order, from the first one >= from.
func (t *Tuple) Iter(from int64) *Iter {
	from = max(from, 0)
	return &Iter{t: t, k: t.Scale(from)}
}

// Iter walks the indexes a segment owns in increasing order, in O(1) per
// step. It is not safe for concurrent use.
type Iter struct {
	t *Tuple
	k int64 // the next one is the k-th owned index
}

// Next returns the next owned index.
func (it *Iter) Next() int64 {
	i := it.t.Nth(it.k)
	it.k++
	return i
}
