package segment

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func mustSequence(t *testing.T, s string) Sequence {
	t.Helper()
	seq, err := ParseSequence(s)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func tuples(t *testing.T, seq Sequence) []*Tuple {
	t.Helper()
	var ts []*Tuple
	for _, seg := range seq.Segments() {
		tu, err := NewTuple(seg, seq)
		if err != nil {
			t.Fatalf("NewTuple(%s, %s): %v", seg, seq, err)
		}
		ts = append(ts, tu)
	}
	return ts
}

// owners returns, for each index below n, the position of the segment
// owning it, or -1 if none or several do.
func owners(ts []*Tuple, n int64) []int {
	out := make([]int, n)
	for i := range n {
		out[i] = -1
		for k, tu := range ts {
			if tu.Owns(i) {
				if out[i] != -1 {
					out[i] = -2
					continue
				}
				out[i] = k
			}
		}
		if out[i] == -2 {
			out[i] = -1
		}
	}
	return out
}

// TestStripingPublishedExamples checks the striping against the examples
// k6 published in its design discussion.
func TestStripingPublishedExamples(t *testing.T) {
	t.Run("issue 997 striped table", func(t *testing.T) {
		// https://github.com/grafana/k6/issues/997 ("Execution segments for
		// partitioning work between k6 instances"): 10 pieces of data
		// split 50%, 30%, 20% between D1, D2 and D3; the "Striped" column
		// gives D1 D2 D1 D3 D1 D2 D1 D3 D1 D2 for pieces 0 to 9.
		ts := tuples(t, mustSequence(t, "0,50%,80%,1"))
		want := []int{0, 1, 0, 2, 0, 1, 0, 2, 0, 1}
		if got := owners(ts, 10); !slices.Equal(got, want) {
			t.Errorf("owners of 0..9 = %v, want %v (D1=0, D2=1, D3=2)", got, want)
		}
		// The pattern repeats every 10 indexes.
		if got := owners(ts, 30)[20:]; !slices.Equal(got, want) {
			t.Errorf("owners of 20..29 = %v, want %v", got, want)
		}
		for k, c := range []int64{5, 3, 2} {
			if got := ts[k].Scale(10); got != c {
				t.Errorf("D%d.Scale(10) = %d, want %d", k+1, got, c)
			}
		}
	})
	t.Run("issue 1514 one percent of two", func(t *testing.T) {
		// https://github.com/grafana/k6/issues/1514 ("Segmentation
		// issues"), item 1: --vus 2 --iterations 2 --execution-segment
		// 0:1/100 --execution-segment-sequence 0,1/100,1 "will result in a
		// 1VU/1iteration test run" with the striping.
		tu, err := NewTuple(mustParse(t, "0:1/100"), mustSequence(t, "0,1/100,1"))
		if err != nil {
			t.Fatal(err)
		}
		if got := tu.Scale(2); got != 1 {
			t.Errorf("Scale(2) = %d, want 1", got)
		}
		if got := tu.Scale(100); got != 1 {
			t.Errorf("Scale(100) = %d, want 1", got)
		}
	})
	t.Run("issue 1514 a third of 100 VUs", func(t *testing.T) {
		// https://github.com/grafana/k6/issues/1514, item 2: a 33.33%
		// segment of a ramp to 100 VUs "will run 34" VUs with the
		// striping.
		tu, err := NewTuple(mustParse(t, "0:1/3"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := tu.Scale(100); got != 34 {
			t.Errorf("Scale(100) = %d, want 34", got)
		}
	})
	t.Run("the segment starting at 0 owns index 0", func(t *testing.T) {
		for _, s := range []string{"0,1/4,1", "0,1/10,1/2,1", "0,1/3,1", "0,1/100,1"} {
			seq := mustSequence(t, s)
			ts := tuples(t, seq)
			if !ts[0].Owns(0) {
				t.Errorf("%s does not own index 0", ts[0])
			}
		}
	})
	t.Run("equal segments are round robin", func(t *testing.T) {
		_, seq := Split(4)
		ts := tuples(t, seq)
		for i := range int64(12) {
			for k, tu := range ts {
				if got, want := tu.Owns(i), i%4 == int64(k); got != want {
					t.Errorf("%s Owns(%d) = %v, want %v", tu, i, got, want)
				}
			}
		}
	})
}

func TestNewTupleDefaultSequence(t *testing.T) {
	tests := []struct {
		seg, seq string
		index    int
	}{
		{"0:1", "0,1", 0},
		{"", "0,1", 0},
		{"0:1/3", "0,1/3,1", 0},
		{"1/3:2/3", "0,1/3,2/3,1", 1},
		{"1/2:1", "0,1/2,1", 1},
	}
	for _, tt := range tests {
		t.Run(tt.seg, func(t *testing.T) {
			tu, err := NewTuple(mustParse(t, tt.seg), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := tu.Sequence().String(); got != tt.seq {
				t.Errorf("sequence = %s, want %s", got, tt.seq)
			}
			if tu.Index() != tt.index {
				t.Errorf("Index() = %d, want %d", tu.Index(), tt.index)
			}
		})
	}
	var zero Segment
	tu, err := NewTuple(zero, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !tu.IsFull() || tu.Scale(12345) != 12345 || !tu.Owns(7) {
		t.Errorf("the zero segment's tuple is not the whole run: %s", tu)
	}
}

func TestNewTupleErrors(t *testing.T) {
	tests := []struct {
		seg, seq, want string
	}{
		{"1/4:1/2", "0,1/3,1", "execution segment 1/4:1/2 is not one of the segments of the sequence 0,1/3,1"},
		{"0:1/2", "0,1/4,1/2,1", "is not one of the segments"},
		{"0:1/1048577", "", "least common denominator"},
		{"1/1000002:1/2", "0,1/1000003,1/1000002,1/2,1", "least common denominator"},
	}
	for _, tt := range tests {
		t.Run(tt.seg+" in "+tt.seq, func(t *testing.T) {
			var seq Sequence
			if tt.seq != "" {
				seq = mustSequence(t, tt.seq)
			}
			_, err := NewTuple(mustParse(t, tt.seg), seq)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want ErrInvalid and %q", err, tt.want)
			}
		})
	}
	if _, err := NewTuple(Segment{From: big.NewRat(1, 2), To: big.NewRat(1, 4)}, nil); err == nil {
		t.Error("NewTuple(1/2:1/4): no error")
	}
	if _, err := NewTuple(Full(), Sequence{big.NewRat(1, 2), big.NewRat(1, 1)}); err == nil {
		t.Error("NewTuple with a sequence not starting at 0: no error")
	}
}

// randomSequence returns a sequence of 1 to 8 segments whose values have
// denominators up to 9.
func randomSequence(r *rand.Rand) Sequence {
	vals := map[string]*big.Rat{}
	for range r.IntN(8) {
		d := 2 + r.Int64N(8)
		n := 1 + r.Int64N(d-1)
		v := big.NewRat(n, d)
		vals[v.String()] = v
	}
	seq := Sequence{new(big.Rat), big.NewRat(1, 1)}
	for _, v := range vals {
		seq = append(seq, v)
	}
	slices.SortFunc(seq, func(a, b *big.Rat) int { return a.Cmp(b) })
	return seq
}

// TestTupleProperties checks, for random sequences and totals, that the
// segments' scaled counts add up to n exactly, that every index is owned
// by exactly one segment, that Scale is monotone in n (in steps of 0 or
// 1), and that the iterator and Nth agree with Owns.
func TestTupleProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 997))
	worst := 0.0
	defer func() { t.Logf("largest distance of Scale(n) from its share n·len: %.3f", worst) }()
	for round := range 300 {
		seq := randomSequence(r)
		if err := seq.check(); err != nil {
			t.Fatalf("round %d: generated a bad sequence %s: %v", round, seq, err)
		}
		ts := tuples(t, seq)
		L := ts[0].lcd
		limit := 3*L + 7
		own := owners(ts, limit)
		for i, o := range own {
			if o < 0 {
				t.Fatalf("sequence %s: index %d is owned by no segment or by several", seq, i)
			}
		}
		for _, n := range []int64{0, 1, 2, L - 1, L, L + 1, 2*L + r.Int64N(L), limit, 1 << 40, 1<<40 + 1 + r.Int64N(1<<20)} {
			var sum int64
			for _, tu := range ts {
				sum += tu.Scale(n)
			}
			if sum != max(n, 0) {
				t.Fatalf("sequence %s: the Scale(%d) of its segments add up to %d", seq, n, sum)
			}
		}
		for k, tu := range ts {
			// Scale counts the owned indexes below n, so it grows by 0
			// or 1 per index.
			var prev int64
			for n := int64(1); n <= limit; n++ {
				s := tu.Scale(n)
				want := prev
				if own[n-1] == k {
					want++
				}
				if s != want {
					t.Fatalf("%s: Scale(%d) = %d, want %d", tu, n, s, want)
				}
				prev = s
			}
			// Scale follows the segment's share n·len closely at every n
			// (the striping's rounding, within a block).
			for n := int64(1); n <= tu.lcd; n++ {
				share, _ := new(big.Rat).Mul(tu.Segment().Len(), big.NewRat(n, 1)).Float64()
				d := math.Abs(float64(tu.Scale(n)) - share)
				worst = max(worst, d)
				if d > float64(len(ts)) {
					t.Errorf("%s: Scale(%d) = %d, share %.3f", tu, n, tu.Scale(n), share)
				}
			}
			// The iterator yields exactly the owned indexes, in order,
			// from any starting point.
			from := r.Int64N(limit)
			it := tu.Iter(from)
			for i := from; i < limit; i++ {
				if own[i] != k {
					continue
				}
				if got := it.Next(); got != i {
					t.Fatalf("%s: Iter(%d) yields %d, want %d", tu, from, got, i)
				}
			}
			for i := range limit {
				if own[i] == k && tu.Nth(tu.Scale(i)) != i {
					t.Fatalf("%s: Nth(Scale(%d)) = %d", tu, i, tu.Nth(tu.Scale(i)))
				}
			}
			far := int64(1)<<45 + r.Int64N(1<<30)
			if i := tu.Iter(far).Next(); i < far || !tu.Owns(i) || tu.Scale(i) != tu.Scale(far) {
				t.Fatalf("%s: Iter(%d).Next() = %d: not the first owned index from there", tu, far, i)
			}
		}
	}
}

// TestStripesSpreadOut checks that each segment's indexes are spread over
// a block rather than bunched: two consecutive indexes of a segment owning
// c of every L are at most 2·ceil(L/c) apart, a loose bound that
// sequential (unstriped) partitioning fails.
func TestStripesSpreadOut(t *testing.T) {
	ts := tuples(t, mustSequence(t, "0,1/2,4/5,1"))
	for _, tu := range ts {
		c := int64(len(tu.offsets))
		limit := (tu.lcd + c - 1) / c * 2
		prev := tu.Nth(0)
		for k := int64(1); k < 3*c; k++ {
			i := tu.Nth(k)
			if i-prev > limit {
				t.Errorf("%s: owned indexes %d and %d are %d apart, want at most %d", tu, prev, i, i-prev, limit)
			}
			prev = i
		}
	}
}

func BenchmarkIterNext(b *testing.B) {
	tu, err := NewTuple(Segment{From: big.NewRat(1, 3), To: big.NewRat(1, 2)}, Sequence{new(big.Rat), big.NewRat(1, 3), big.NewRat(1, 2), big.NewRat(1, 1)})
	if err != nil {
		b.Fatal(err)
	}
	it := tu.Iter(0)
	var sink int64
	for b.Loop() {
		sink += it.Next()
	}
	_ = sink
}
