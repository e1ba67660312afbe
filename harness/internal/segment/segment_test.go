package segment

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "0:1"},
		{"  ", "0:1"},
		{"0:1", "0:1"},
		{"1/4:1/2", "1/4:1/2"},
		{"2/4:6/8", "1/2:3/4"},
		{"0.25:50%", "1/4:1/2"},
		{"25%:0.5", "1/4:1/2"},
		{"1/3", "0:1/3"},
		{"25%", "0:1/4"},
		{"0.5", "0:1/2"},
		{".5:1", "1/2:1"},
		{"12.5%:100%", "1/8:1"},
		{"010/100:1", "1/10:1"}, // decimal, not octal
		{" 1/3 : 2/3 ", "1/3:2/3"},
		{"0.333:0.334", "333/1000:167/500"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("Parse(%q) = %s, want %s", tt.in, got, tt.want)
			}
			back, err := Parse(s.String())
			if err != nil || !back.Equal(s) {
				t.Errorf("Parse(%q) = %v, %v: does not round-trip", s.String(), back, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string // in the message, beside the input
	}{
		{"1/2:1/4", "FROM (1/2) must be less than TO (1/4)"},
		{"1/2:1/2", "FROM (1/2) must be less than TO (1/2)"},
		{"0:3/2", "TO (3/2) must be at most 1"},
		{"150%", "TO (3/2) must be at most 1"},
		{"abc", "TO: \"abc\""},
		{"1/0", "the denominator must not be 0"},
		{"-1/4:1/2", "FROM: \"-1/4\": numerator"},
		{"0x1/4", "numerator"},
		{"1e-1", "'e' is not a digit"},
		{"0:1/2:3/4", "denominator"},
		{"1.:1", "no digits after the decimal point"},
		{"%", "no digits"},
		{":1/2", "FROM: empty value"},
		{"1/4:", "TO: empty value"},
		{"1/2/3", "denominator"},
		{"0.1.2", "is not a digit"},
		{"1" + strings.Repeat("0", 40) + "/2", "more than 30 digits"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q): no error", tt.in)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q): %v does not match ErrInvalid", tt.in, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, `"`+tt.in+`"`) || !strings.Contains(msg, tt.want) {
				t.Errorf("Parse(%q) = %q, want the input and %q", tt.in, msg, tt.want)
			}
		})
	}
}

func TestParseSequence(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0,1", "0,1"},
		{"0,1/4,1/2,1", "0,1/4,1/2,1"},
		{"0, 25%, 0.5, 3/4, 1", "0,1/4,1/2,3/4,1"},
		{"0%,100%", "0,1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			seq, err := ParseSequence(tt.in)
			if err != nil {
				t.Fatalf("ParseSequence(%q): %v", tt.in, err)
			}
			if got := seq.String(); got != tt.want {
				t.Errorf("ParseSequence(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
	if seq, err := ParseSequence(""); seq != nil || err != nil {
		t.Errorf("ParseSequence(\"\") = %v, %v; want nil, nil", seq, err)
	}
}

func TestParseSequenceErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1/4,1", "the first value (1/4) must be 0"},
		{"0,1/2", "the last value (1/2) must be 1"},
		{"0,1/2,1/4,1", "values must increase: 1/4 (#3) after 1/2"},
		{"0,1/2,1/2,1", "values must increase"},
		{"0", "at least two values"},
		{"0,,1", "value #2: empty value"},
		{"0,x,1", "value #2"},
		{"0,1,3/2", "the last value (3/2) must be 1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseSequence(tt.in)
			if err == nil {
				t.Fatalf("ParseSequence(%q): no error", tt.in)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseSequence(%q): %v does not match ErrInvalid", tt.in, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, `"`+tt.in+`"`) || !strings.Contains(msg, tt.want) {
				t.Errorf("ParseSequence(%q) = %q, want the input and %q", tt.in, msg, tt.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	segs, seq := Split(4)
	if got, want := seq.String(), "0,1/4,1/2,3/4,1"; got != want {
		t.Errorf("Split(4) sequence = %s, want %s", got, want)
	}
	var names []string
	for _, s := range segs {
		names = append(names, s.String())
	}
	if got, want := strings.Join(names, " "), "0:1/4 1/4:1/2 1/2:3/4 3/4:1"; got != want {
		t.Errorf("Split(4) = %s, want %s", got, want)
	}
	if err := Cover(segs); err != nil {
		t.Errorf("Cover(Split(4)): %v", err)
	}
	if segs, seq := Split(1); len(segs) != 1 || !segs[0].IsFull() || seq.String() != "0,1" {
		t.Errorf("Split(1) = %v, %v", segs, seq)
	}
	if segs, seq := Split(0); segs != nil || seq != nil {
		t.Errorf("Split(0) = %v, %v; want nil, nil", segs, seq)
	}
}

func mustParse(t *testing.T, s string) Segment {
	t.Helper()
	seg, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

func TestCover(t *testing.T) {
	tests := []struct {
		name string
		segs []string
		want []string // each in the error; none: no error
	}{
		{"whole", []string{"0:1"}, nil},
		{"halves out of order", []string{"1/2:1", "0:1/2"}, nil},
		{"mixed notations", []string{"0:25%", "0.25:1/2", "1/2:1"}, nil},
		{"none", nil, []string{"no runner covers 0:1"}},
		{"gap in the middle", []string{"0:1/2", "3/4:1"}, []string{"no runner covers 1/2:3/4"}},
		{"gap at the start and the end", []string{"1/4:1/2"}, []string{"no runner covers 0:1/4", "no runner covers 1/2:1"}},
		{"duplicate", []string{"0:1/2", "0:1/2", "1/2:1"}, []string{"0:1/2 is covered by more than one runner (0:1/2 and 0:1/2)"}},
		{"overlap", []string{"0:1/2", "1/4:3/4", "3/4:1"}, []string{"1/4:1/2 is covered by more than one runner (0:1/2 and 1/4:3/4)"}},
		{"nested", []string{"0:1", "1/4:1/2"}, []string{"1/4:1/2 is covered by more than one runner (0:1 and 1/4:1/2)"}},
		{"gap and overlap", []string{"0:1/2", "1/4:1/2", "3/4:1"}, []string{"1/4:1/2 is covered", "no runner covers 1/2:3/4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var segs []Segment
			for _, s := range tt.segs {
				segs = append(segs, mustParse(t, s))
			}
			err := Cover(segs)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Cover(%v): %v", tt.segs, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Cover(%v): no error, want %q", tt.segs, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Cover(%v): %v does not match ErrInvalid", tt.segs, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Cover(%v) = %q, want %q in it", tt.segs, err, w)
				}
			}
		})
	}
}

func TestZeroSegmentIsFull(t *testing.T) {
	var z Segment
	if !z.IsFull() || z.String() != "0:1" || !z.Equal(Full()) {
		t.Errorf("zero Segment = %s (full %v), want the whole run", z, z.IsFull())
	}
	if got := z.Len(); got.Cmp(big.NewRat(1, 1)) != 0 {
		t.Errorf("zero Segment Len = %s, want 1", got)
	}
}
