package gate

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Selector is a list of PromQL label matchers that picks one side of the
// comparison (the canary's or the baseline's series), like
// {track="canary"} or job="flagserver",track=~"base.*".
type Selector struct {
	matchers []matcher
}

type matcher struct {
	name, op, value string
}

// String renders the matchers without braces, ready to be joined with
// the gate's own: track="canary",job="flagserver".
func (s Selector) String() string {
	parts := make([]string, len(s.matchers))
	for i, m := range s.matchers {
		parts[i] = m.name + m.op + strconv.Quote(m.value)
	}
	return strings.Join(parts, ",")
}

// IsZero reports whether the selector has no matchers.
func (s Selector) IsZero() bool { return len(s.matchers) == 0 }

// MarshalText renders the selector in braces.
func (s Selector) MarshalText() ([]byte, error) { return []byte("{" + s.String() + "}"), nil }

// MaxSelectorBytes bounds a selector's text: real ones are a few dozen
// bytes, and each is repeated in every query and in the result.
const MaxSelectorBytes = 1024

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// reserved are labels the gate sets itself in some queries; a selector
// that pins them would silently change what a check counts.
var reserved = map[string]string{
	"__name__": "the gate chooses the metric names",
	"le":       "the latency check needs every bucket",
	"code":     "the error check needs every status code",
	"result":   "the cache check needs every result",
	"source":   "the fallback check needs every read source",
}

// ParseSelector parses PromQL label matchers, with or without braces:
// name op "value" separated by commas, op one of = != =~ !~, values in
// double or single quotes or backticks. At least one matcher must not
// match the empty string, so a selector never selects every series.
// At most MaxSelectorBytes. Errors quote the text cut short.
func ParseSelector(s string) (Selector, error) {
	if len(s) > MaxSelectorBytes {
		return Selector{}, fmt.Errorf("selector of %d bytes: want at most %d", len(s), MaxSelectorBytes)
	}
	in := strings.TrimSpace(s)
	if strings.HasPrefix(in, "{") {
		if !strings.HasSuffix(in, "}") {
			return Selector{}, fmt.Errorf("selector %s: unbalanced braces", clip(s))
		}
		in = strings.TrimSpace(in[1 : len(in)-1])
	}
	if in == "" {
		return Selector{}, fmt.Errorf("selector %s: empty; give label matchers like {track=\"canary\"}", s)
	}
	var sel Selector
	nonEmpty := false
	for in != "" {
		m, rest, err := parseMatcher(in)
		if err != nil {
			return Selector{}, fmt.Errorf("selector %s: %w", clip(s), err)
		}
		if why, ok := reserved[m.name]; ok {
			return Selector{}, fmt.Errorf("selector %s: label %s cannot be matched here: %s", clip(s), m.name, why)
		}
		if m.op == "=~" || m.op == "!~" {
			re, err := regexp.Compile("^(?:" + m.value + ")$")
			if err != nil {
				return Selector{}, fmt.Errorf("selector %s: %s%s%s: %s", clip(s), clipName(m.name), m.op, clip(m.value), clipText(err.Error()))
			}
			if m.op == "=~" && !re.MatchString("") {
				nonEmpty = true
			}
		} else if m.op == "=" && m.value != "" {
			nonEmpty = true
		}
		sel.matchers = append(sel.matchers, m)
		rest = strings.TrimSpace(rest)
		if rest == "" {
			break
		}
		if !strings.HasPrefix(rest, ",") {
			return Selector{}, fmt.Errorf("selector %s: want ',' between matchers at %s", clip(s), clip(rest))
		}
		in = strings.TrimSpace(rest[1:])
	}
	if !nonEmpty {
		return Selector{}, fmt.Errorf("selector %s: every matcher matches the empty label too; give one like name=\"value\" so it cannot select every series", s)
	}
	return sel, nil
}

func parseMatcher(in string) (matcher, string, error) {
	i := 0
	for i < len(in) && (in[i] == '_' || in[i] >= 'a' && in[i] <= 'z' || in[i] >= 'A' && in[i] <= 'Z' || i > 0 && in[i] >= '0' && in[i] <= '9') {
		i++
	}
	name := in[:i]
	if !labelName.MatchString(name) {
		return matcher{}, "", fmt.Errorf("want a label name at %s", clip(in))
	}
	rest := strings.TrimSpace(in[i:])
	var op string
	for _, o := range []string{"=~", "!~", "!=", "="} {
		if strings.HasPrefix(rest, o) {
			op = o
			break
		}
	}
	if op == "" {
		return matcher{}, "", fmt.Errorf("want =, !=, =~ or !~ after %s", clipName(name))
	}
	rest = strings.TrimSpace(rest[len(op):])
	value, rest, err := parseString(rest)
	if err != nil {
		return matcher{}, "", fmt.Errorf("%s%s: %w", clipName(name), op, err)
	}
	return matcher{name: name, op: op, value: value}, rest, nil
}

// parseString reads one PromQL string literal from the start of in.
func parseString(in string) (value, rest string, err error) {
	if in == "" {
		return "", "", errors.New("want a quoted value")
	}
	q := in[0]
	switch q {
	case '`':
		end := strings.IndexByte(in[1:], '`')
		if end < 0 {
			return "", "", errors.New("unterminated `string`")
		}
		return in[1 : end+1], in[end+2:], nil
	case '"', '\'':
	default:
		return "", "", fmt.Errorf("want a quoted value at %s", clip(in))
	}
	for i := 1; i < len(in); i++ {
		switch in[i] {
		case '\\':
			i++
		case q:
			body := in[1:i]
			if q == '\'' {
				// Same escapes as a double-quoted string; only the quote differs.
				body = strings.ReplaceAll(strings.ReplaceAll(body, `\'`, `'`), `"`, `\"`)
			}
			v, err := strconv.Unquote(`"` + body + `"`)
			if err != nil {
				return "", "", fmt.Errorf("bad string %s", clipText(in[:i+1]))
			}
			return v, in[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("unterminated string %s", clipText(in))
}
