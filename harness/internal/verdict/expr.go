package verdict

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/flagstorm/flagstorm/internal/metric"
)

// AggKind is an aggregation method.
type AggKind uint8

const (
	AggCount      AggKind = iota + 1 // count: a counter's sum
	AggRate                          // rate: a counter's sum per second of run time, or a rate's non-zero fraction
	AggValue                         // value: a gauge's last sample
	AggAvg                           // avg: a trend's mean
	AggMin                           // min
	AggMax                           // max
	AggMed                           // med: a trend's median, the same as p(50)
	AggPercentile                    // p(N): a trend's Nth percentile
)

var aggNames = [...]string{
	AggCount: "count", AggRate: "rate", AggValue: "value", AggAvg: "avg",
	AggMin: "min", AggMax: "max", AggMed: "med", AggPercentile: "p(N)",
}

func (k AggKind) String() string {
	if k >= AggCount && k <= AggPercentile {
		return aggNames[k]
	}
	return fmt.Sprintf("AggKind(%d)", uint8(k))
}

// Agg is an aggregation: a method and, for percentiles, which one.
type Agg struct {
	Kind AggKind
	P    float64 // the percentile of AggPercentile, 0 < P <= 100; 0 otherwise
}

// String is the aggregation as a threshold writes it: "avg", "p(99.9)".
func (a Agg) String() string {
	if a.Kind == AggPercentile {
		return "p(" + formatNumber(a.P) + ")"
	}
	return a.Kind.String()
}

// ParseAgg parses one aggregation: count, rate, value, avg, min, max, med
// or p(N).
func ParseAgg(s string) (Agg, error) {
	p := exprParser{in: s}
	a, msg := p.agg()
	if msg == "" {
		p.skipSpace()
		if p.pos < len(s) {
			msg = fmt.Sprintf("unexpected %q after %s", s[p.pos:], a)
		}
	}
	if msg != "" {
		return Agg{}, &SyntaxError{Input: s, Msg: msg}
	}
	return a, nil
}

// Op is a comparison.
type Op uint8

const (
	OpLess      Op = iota + 1 // <
	OpLessEq                  // <=
	OpGreater                 // >
	OpGreaterEq               // >=
	OpEq                      // == (k6's === is read as ==)
	OpNotEq                   // !=
)

var opSymbols = [...]string{
	OpLess: "<", OpLessEq: "<=", OpGreater: ">", OpGreaterEq: ">=", OpEq: "==", OpNotEq: "!=",
}

func (o Op) String() string {
	if o >= OpLess && o <= OpNotEq {
		return opSymbols[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// ParseOp parses <, <=, >, >=, ==, === (the same as ==) or !=.
func ParseOp(s string) (Op, error) {
	if s == "===" {
		return OpEq, nil
	}
	for o := OpLess; o <= OpNotEq; o++ {
		if opSymbols[o] == s {
			return o, nil
		}
	}
	return 0, &SyntaxError{Input: s, Msg: "unknown comparison (want <, <=, >, >=, == or !=)"}
}

// Compare reports whether "observed op limit" is true. Comparisons with
// NaN are false except !=, as in Go.
func (o Op) Compare(observed, limit float64) bool {
	switch o {
	case OpLess:
		return observed < limit
	case OpLessEq:
		return observed <= limit
	case OpGreater:
		return observed > limit
	case OpGreaterEq:
		return observed >= limit
	case OpEq:
		return observed == limit
	case OpNotEq:
		return observed != limit
	}
	return false
}

// Expr is one threshold expression, "p(95)<50": the aggregation of a
// (sub)metric compared with a limit in the metric's unit. The threshold
// passes when the comparison is true.
type Expr struct {
	Agg   Agg
	Op    Op
	Limit float64
}

// String is the canonical form, without spaces: "p(95)<50". ParseExpr
// reads it back to the same Expr.
func (e Expr) String() string {
	return e.Agg.String() + e.Op.String() + formatNumber(e.Limit)
}

// Holds reports whether the expression is true of an observed value.
func (e Expr) Holds(observed float64) bool { return e.Op.Compare(observed, e.Limit) }

// ParseExpr parses a threshold expression, k6's grammar:
//
//	expr  = agg op limit
//	agg   = "count" | "rate" | "value" | "avg" | "min" | "max" | "med" | "p(" N ")"
//	op    = "<" | "<=" | ">" | ">=" | "==" | "===" | "!="
//
// with spaces allowed between the parts. N is a decimal number with
// 0 < N <= 100 (p(99.9) is fine). The limit is a decimal number, optionally
// signed and with an exponent (negative limits are allowed: a custom gauge
// may go below zero); NaN and infinities are not numbers here. The names
// are case-sensitive, as in k6. ParseExpr does not know the metric, so it
// cannot tell whether the aggregation suits it: Parse checks that. Errors
// are *SyntaxError.
func ParseExpr(s string) (Expr, error) {
	p := exprParser{in: s}
	e, msg := p.expr()
	if msg != "" {
		return Expr{}, &SyntaxError{Input: s, Msg: msg}
	}
	return e, nil
}

type exprParser struct {
	in  string
	pos int
}

func (p *exprParser) skipSpace() {
	for p.pos < len(p.in) && isSpace(p.in[p.pos]) {
		p.pos++
	}
}

func (p *exprParser) rest() string { return p.in[p.pos:] }

const aggList = "count, rate, value, avg, min, max, med or p(N)"

// expr returns the expression, or a message saying what is wrong.
func (p *exprParser) expr() (Expr, string) {
	if trimSpace(p.in) == "" {
		return Expr{}, "empty threshold expression: write one such as p(95)<50"
	}
	agg, msg := p.agg()
	if msg != "" {
		return Expr{}, msg
	}
	op, msg := p.op(agg)
	if msg != "" {
		return Expr{}, msg
	}
	p.skipSpace()
	start := p.pos
	num := p.number()
	if num == "" {
		if p.pos == len(p.in) {
			return Expr{}, fmt.Sprintf("missing limit after %s%s: write a number, as in %s%s50", agg, op, agg, op)
		}
		return Expr{}, fmt.Sprintf("expected a number after %s%s, got %q", agg, op, p.in[start:])
	}
	limit, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return Expr{}, fmt.Sprintf("limit %s is out of range", num)
	}
	p.skipSpace()
	if rest := p.rest(); rest != "" {
		return Expr{}, trailingMessage(rest, num)
	}
	return Expr{Agg: agg, Op: op, Limit: limit}, ""
}

func trailingMessage(rest, num string) string {
	msg := fmt.Sprintf("unexpected %q after the limit %s", rest, num)
	switch c := rest[0]; {
	case c == '%':
		return msg + ": rates are fractions, so write rate<0.01 for 1 %"
	case isLetter(c) || c >= 0x80:
		return msg + ": limits are plain numbers in the metric's unit (milliseconds for http_req_* durations, as in k6)"
	case c == '&' || c == '|' || c == ',' || c == ';':
		return msg + ": write one expression per list entry"
	}
	return msg
}

func (p *exprParser) agg() (Agg, string) {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.in) && (isLetter(p.in[p.pos]) || p.pos > start && isDigit(p.in[p.pos])) {
		p.pos++
	}
	name := p.in[start:p.pos]
	switch {
	case name == "":
		if p.pos < len(p.in) && strings.IndexByte("<>=!", p.in[p.pos]) >= 0 {
			return Agg{}, fmt.Sprintf("missing aggregation before %q: want %s", p.rest(), aggList)
		}
		return Agg{}, fmt.Sprintf("expected an aggregation (%s), got %q", aggList, p.rest())
	case name == "p":
		return p.percentile()
	case len(name) > 1 && (name[0] == 'p' || name[0] == 'P') && isDigit(name[1]):
		// p95, p99.9: a common slip.
		for p.pos < len(p.in) && (isDigit(p.in[p.pos]) || p.in[p.pos] == '.') {
			p.pos++
		}
		written := p.in[start:p.pos]
		return Agg{}, fmt.Sprintf("unknown aggregation %q: write percentiles as p(%s)", written, written[1:])
	}
	for k := AggCount; k < AggPercentile; k++ {
		if aggNames[k] == name {
			return Agg{Kind: k}, ""
		}
	}
	msg := fmt.Sprintf("unknown aggregation %q (want %s)", name, aggList)
	if lower := strings.ToLower(name); lower != name {
		if lower == "p" {
			return Agg{}, msg + ": names are lower case, as in p(95)"
		}
		for k := AggCount; k < AggPercentile; k++ {
			if aggNames[k] == lower {
				return Agg{}, msg + ": names are lower case, as in " + lower
			}
		}
	}
	return Agg{}, msg
}

func (p *exprParser) percentile() (Agg, string) {
	p.skipSpace()
	if p.pos == len(p.in) || p.in[p.pos] != '(' {
		return Agg{}, "p needs a percentile in parentheses, as in p(95)"
	}
	p.pos++
	p.skipSpace()
	start := p.pos
	num := p.number()
	if num == "" {
		if close := strings.IndexByte(p.in[start:], ')'); close >= 0 {
			if arg := trimSpace(p.in[start : start+close]); arg != "" {
				return Agg{}, fmt.Sprintf("percentile %q is not a number: write p(95) or p(99.9)", arg)
			}
		}
		return Agg{}, "p() needs a percentile, as in p(95)"
	}
	p.skipSpace()
	if p.pos == len(p.in) || p.in[p.pos] != ')' {
		return Agg{}, fmt.Sprintf("missing ')' after p(%s", num)
	}
	p.pos++
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !(v > 0 && v <= 100) {
		return Agg{}, fmt.Sprintf("percentile %s is out of range: want 0 < N <= 100", num)
	}
	return Agg{Kind: AggPercentile, P: v}, ""
}

func (p *exprParser) op(agg Agg) (Op, string) {
	p.skipSpace()
	rest := p.rest()
	for _, sym := range []string{"===", "==", "!=", "<=", ">=", "<", ">"} {
		if strings.HasPrefix(rest, sym) {
			p.pos += len(sym)
			op, _ := ParseOp(sym)
			return op, ""
		}
	}
	const want = "want <, <=, >, >=, == or !="
	switch {
	case rest == "":
		return 0, fmt.Sprintf("missing comparison after %s: %s", agg, want)
	case strings.HasPrefix(rest, "=<"):
		return 0, "unknown comparison \"=<\": did you mean <=?"
	case strings.HasPrefix(rest, "=>"):
		return 0, "unknown comparison \"=>\": did you mean >=?"
	case rest[0] == '=':
		return 0, "\"=\" is not a comparison: did you mean ==?"
	}
	return 0, fmt.Sprintf("expected a comparison after %s, got %q: %s", agg, rest, want)
}

// number consumes a decimal number, [+-]?(d+(.d*)?|.d+)([eE][+-]?d+)?,
// and returns it, or "" (consuming nothing) when there is none.
func (p *exprParser) number() string {
	s, i := p.in, p.pos
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return ""
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			i = j
		}
	}
	num := s[p.pos:i]
	p.pos = i
	return num
}

// formatNumber writes v in the shortest form that ParseFloat reads back
// exactly.
func formatNumber(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// SyntaxError is a malformed threshold expression.
type SyntaxError struct {
	Input string // the expression as written
	Msg   string // what is wrong, without the input
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("verdict: parse %q: %s", e.Input, e.Msg)
}

// syntaxMsg is the message of a *SyntaxError or a *metric.KeyError
// without its input, or the whole text of any other error.
func syntaxMsg(err error) string {
	if se, ok := errors.AsType[*SyntaxError](err); ok {
		return se.Msg
	}
	if ke, ok := errors.AsType[*metric.KeyError](err); ok {
		return ke.Msg
	}
	return err.Error()
}

func isLetter(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isSpace(c byte) bool  { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}
