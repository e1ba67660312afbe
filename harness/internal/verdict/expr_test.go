package verdict

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func pct(p float64) Agg { return Agg{Kind: AggPercentile, P: p} }

func TestParseExpr(t *testing.T) {
	tests := []struct {
		in    string
		want  Expr
		canon string
	}{
		// every operator
		{"p(95)<50", Expr{pct(95), OpLess, 50}, "p(95)<50"},
		{"p(95)<=50", Expr{pct(95), OpLessEq, 50}, "p(95)<=50"},
		{"p(95)>50", Expr{pct(95), OpGreater, 50}, "p(95)>50"},
		{"p(95)>=50", Expr{pct(95), OpGreaterEq, 50}, "p(95)>=50"},
		{"p(95)==50", Expr{pct(95), OpEq, 50}, "p(95)==50"},
		{"p(95)===50", Expr{pct(95), OpEq, 50}, "p(95)==50"},
		{"p(95)!=50", Expr{pct(95), OpNotEq, 50}, "p(95)!=50"},
		// every aggregation
		{"count==0", Expr{Agg{Kind: AggCount}, OpEq, 0}, "count==0"},
		{"rate==0", Expr{Agg{Kind: AggRate}, OpEq, 0}, "rate==0"},
		{"value<5", Expr{Agg{Kind: AggValue}, OpLess, 5}, "value<5"},
		{"avg<20", Expr{Agg{Kind: AggAvg}, OpLess, 20}, "avg<20"},
		{"min>=0", Expr{Agg{Kind: AggMin}, OpGreaterEq, 0}, "min>=0"},
		{"max<2000", Expr{Agg{Kind: AggMax}, OpLess, 2000}, "max<2000"},
		{"med<150", Expr{Agg{Kind: AggMed}, OpLess, 150}, "med<150"},
		// percentiles
		{"p(99.9)<100", Expr{pct(99.9), OpLess, 100}, "p(99.9)<100"},
		{"p(100)<1", Expr{pct(100), OpLess, 1}, "p(100)<1"},
		{"p(0.001)<1", Expr{pct(0.001), OpLess, 1}, "p(0.001)<1"},
		{"p(95.0)<1", Expr{pct(95), OpLess, 1}, "p(95)<1"},
		{"p(9.5e1)<1", Expr{pct(95), OpLess, 1}, "p(95)<1"},
		// whitespace
		{" p(95) < 50 ", Expr{pct(95), OpLess, 50}, "p(95)<50"},
		{"p( 95 )\t<\t50", Expr{pct(95), OpLess, 50}, "p(95)<50"},
		{"p (95)<50", Expr{pct(95), OpLess, 50}, "p(95)<50"},
		{"rate\n<\n0.01", Expr{Agg{Kind: AggRate}, OpLess, 0.01}, "rate<0.01"},
		// limits
		{"rate>0.99", Expr{Agg{Kind: AggRate}, OpGreater, 0.99}, "rate>0.99"},
		{"value>-5", Expr{Agg{Kind: AggValue}, OpGreater, -5}, "value>-5"},
		{"value>+5", Expr{Agg{Kind: AggValue}, OpGreater, 5}, "value>5"},
		{"avg<.5", Expr{Agg{Kind: AggAvg}, OpLess, 0.5}, "avg<0.5"},
		{"avg<5.", Expr{Agg{Kind: AggAvg}, OpLess, 5}, "avg<5"},
		{"count<1e6", Expr{Agg{Kind: AggCount}, OpLess, 1e6}, "count<1e+06"},
		{"count<1E+21", Expr{Agg{Kind: AggCount}, OpLess, 1e21}, "count<1e+21"},
		{"avg<2.5e-3", Expr{Agg{Kind: AggAvg}, OpLess, 0.0025}, "avg<0.0025"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseExpr(tt.in)
			if err != nil {
				t.Fatalf("ParseExpr(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseExpr(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.canon {
				t.Errorf("String() = %q, want %q", s, tt.canon)
			}
		})
	}
}

func TestParseExprErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string // a substring of the message
	}{
		{"", "empty threshold expression"},
		{"   ", "empty threshold expression"},
		{"p95<5", `unknown aggregation "p95": write percentiles as p(95)`},
		{"p99.9<5", `write percentiles as p(99.9)`},
		{"P95<5", `write percentiles as p(95)`},
		{"p(0)<5", "percentile 0 is out of range: want 0 < N <= 100"},
		{"p(101)<5", "percentile 101 is out of range"},
		{"p(-5)<5", "percentile -5 is out of range"},
		{"p(1e999)<5", "out of range"},
		{"p()<5", "p() needs a percentile"},
		{"p(abc)<5", `percentile "abc" is not a number`},
		{"p(95<5", "missing ')' after p(95"},
		{"p<5", "p needs a percentile in parentheses"},
		{"P(95)<5", "names are lower case, as in p(95)"},
		{"AVG<5", "names are lower case, as in avg"},
		{"average<5", `unknown aggregation "average" (want count, rate, value, avg, min, max, med or p(N))`},
		{"<5", "missing aggregation"},
		{"5<avg", "expected an aggregation"},
		{"avg", "missing comparison after avg"},
		{"avg 5", `expected a comparison after avg, got "5"`},
		{"avg=5", `"=" is not a comparison: did you mean ==?`},
		{"avg=<5", "did you mean <=?"},
		{"avg=>5", "did you mean >=?"},
		{"avg<", "missing limit after avg<"},
		{"avg< ", "missing limit after avg<"},
		{"avg<abc", `expected a number after avg<, got "abc"`},
		{"avg<NaN", "expected a number"},
		{"avg<Inf", "expected a number"},
		{"avg<<5", "expected a number"},
		{"avg<==5", "expected a number"},
		{"avg<1e999", "limit 1e999 is out of range"},
		{"p(95)<50ms", `unexpected "ms" after the limit 50: limits are plain numbers`},
		{"rate<1%", "rates are fractions"},
		{"avg<5 && max<9", "one expression per list entry"},
		{"avg<5 x", `unexpected "x"`},
		{"avg<5)", `unexpected ")"`},
		{"avg<1e", `unexpected "e"`},
		{"avg<0x10", `unexpected "x10"`},
		{"avg<1_000", `unexpected "_000"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseExpr(tt.in)
			if err == nil {
				t.Fatalf("ParseExpr(%q) = %v, want error containing %q", tt.in, got, tt.want)
			}
			var se *SyntaxError
			if !errors.As(err, &se) || se.Input != tt.in {
				t.Fatalf("ParseExpr(%q) error %#v, want a *SyntaxError for the input", tt.in, err)
			}
			if !strings.Contains(se.Msg, tt.want) {
				t.Errorf("ParseExpr(%q) = %q, want it to contain %q", tt.in, se.Msg, tt.want)
			}
		})
	}
}

func TestParseAggAndOp(t *testing.T) {
	for _, s := range []string{"count", "rate", "value", "avg", "min", "max", "med", "p(95)", "p(99.9)"} {
		a, err := ParseAgg(s)
		if err != nil {
			t.Errorf("ParseAgg(%q): %v", s, err)
			continue
		}
		if a.String() != s {
			t.Errorf("ParseAgg(%q).String() = %q", s, a)
		}
	}
	for _, s := range []string{"", "p", "p(0)", "avg x", "sum", "p(N)"} {
		if a, err := ParseAgg(s); err == nil {
			t.Errorf("ParseAgg(%q) = %v, want an error", s, a)
		}
	}
	for _, s := range []string{"<", "<=", ">", ">=", "==", "!="} {
		o, err := ParseOp(s)
		if err != nil || o.String() != s {
			t.Errorf("ParseOp(%q) = %v, %v", s, o, err)
		}
	}
	if o, err := ParseOp("==="); err != nil || o != OpEq {
		t.Errorf("ParseOp(===) = %v, %v; want ==", o, err)
	}
	for _, s := range []string{"", "=", "<>", "=<", "!"} {
		if o, err := ParseOp(s); err == nil {
			t.Errorf("ParseOp(%q) = %v, want an error", s, o)
		}
	}
	if got := Op(0).String(); got != "Op(0)" {
		t.Errorf("Op(0).String() = %q", got)
	}
	if got := AggKind(99).String(); got != "AggKind(99)" {
		t.Errorf("AggKind(99).String() = %q", got)
	}
}

func TestOpCompare(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		op               Op
		below, eq, above bool // observed 1, 2, 3 against the limit 2
	}{
		{OpLess, true, false, false},
		{OpLessEq, true, true, false},
		{OpGreater, false, false, true},
		{OpGreaterEq, false, true, true},
		{OpEq, false, true, false},
		{OpNotEq, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.op.String(), func(t *testing.T) {
			for v, want := range map[float64]bool{1: tt.below, 2: tt.eq, 3: tt.above} {
				if got := tt.op.Compare(v, 2); got != want {
					t.Errorf("%v %s 2 = %v, want %v", v, tt.op, got, want)
				}
			}
			if got := tt.op.Compare(nan, 2); got != (tt.op == OpNotEq) {
				t.Errorf("NaN %s 2 = %v", tt.op, got)
			}
		})
	}
	if Op(0).Compare(1, 1) {
		t.Error("the zero Op compared true")
	}
}

func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{
		"p(95)<50", "p(99.9) <= 100", "rate==0", "count===0", "value != -1.5e-3", "avg>.5",
		"p95<5", "p(0)<1", "p(101)<1", "avg<50ms", "med<1e+308", "min>=4.9e-324", "p(", "avg<<",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpr(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Msg == "" {
				t.Fatalf("ParseExpr(%q) error %#v is not a *SyntaxError with a message", s, err)
			}
			return
		}
		canon := e.String()
		e2, err := ParseExpr(canon)
		if err != nil {
			t.Fatalf("ParseExpr(%q) = %#v, whose String %q does not parse: %v", s, e, canon, err)
		}
		if e2 != e {
			t.Fatalf("%q -> %#v -> %q -> %#v", s, e, canon, e2)
		}
		if e2.String() != canon {
			t.Fatalf("String is not canonical: %q -> %q", canon, e2.String())
		}
	})
}
