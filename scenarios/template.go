package scenarios

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/flagstorm/flagstorm/internal/metric"
)

// Placeholder is a value a request template draws per request, written
// {{name}} in a path, body or header value.
type Placeholder uint8

// The placeholders.
const (
	PlaceholderEnv   Placeholder = iota + 1 // {{env}}: an environment of data.environments
	PlaceholderFlag                         // {{flag}}: a flag key of data.flags
	PlaceholderUser                         // {{user}}: a user id of data.users
	PlaceholderBool                         // {{bool}}: true or false
	PlaceholderPct                          // {{pct}}: a whole percentage, 0 to 100
	PlaceholderNonce                        // {{nonce}}: a token no other request of the run has (the oracle's per-write nonce)

	placeholderLast = PlaceholderNonce
)

var placeholderNames = [...]string{
	PlaceholderEnv: "env", PlaceholderFlag: "flag", PlaceholderUser: "user", PlaceholderBool: "bool", PlaceholderPct: "pct", PlaceholderNonce: "nonce",
}

const placeholderList = "{{env}}, {{flag}}, {{user}}, {{bool}}, {{pct}}, {{nonce}}"

// String returns the placeholder's name, like "env".
func (p Placeholder) String() string {
	if p >= PlaceholderEnv && p <= placeholderLast {
		return placeholderNames[p]
	}
	return "Placeholder(" + strconv.Itoa(int(p)) + ")"
}

// ParsePlaceholder parses a placeholder's name, without braces.
func ParsePlaceholder(s string) (Placeholder, error) {
	for p := PlaceholderEnv; p <= placeholderLast; p++ {
		if placeholderNames[p] == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown placeholder {{%s}} (want %s)", s, placeholderList)
}

// checkTemplate returns what is wrong with a template, or "". Every "{{"
// opens a placeholder that the next "}}" closes; a lone "}}" is text, so
// JSON bodies such as {"enabled": {{bool}}} need no escaping.
func checkTemplate(s string) string {
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			return ""
		}
		s = s[i+2:]
		j := strings.Index(s, "}}")
		if j < 0 {
			return fmt.Sprintf("unclosed placeholder {{%s: write one of %s", truncate(s, 20), placeholderList)
		}
		name := s[:j]
		if _, err := ParsePlaceholder(name); err != nil {
			if t := strings.TrimSpace(name); t != name {
				if _, err := ParsePlaceholder(t); err == nil {
					return fmt.Sprintf("write {{%s}} without spaces", t)
				}
			}
			return err.Error()
		}
		s = s[j+2:]
	}
}

// AppendExpand appends the template tmpl to dst with every placeholder
// replaced by what value appends for it. tmpl must be valid, as the
// templates of a validated Spec are; an unknown or unclosed placeholder
// is copied as written.
func AppendExpand(dst []byte, tmpl string, value func(dst []byte, p Placeholder) []byte) []byte {
	for {
		i := strings.Index(tmpl, "{{")
		if i < 0 {
			return append(dst, tmpl...)
		}
		dst = append(dst, tmpl[:i]...)
		rest := tmpl[i+2:]
		j := strings.Index(rest, "}}")
		if j < 0 {
			return append(dst, tmpl[i:]...)
		}
		p, err := ParsePlaceholder(rest[:j])
		if err != nil {
			dst = append(dst, tmpl[i:i+2+j+2]...)
		} else {
			dst = value(dst, p)
		}
		tmpl = rest[j+2:]
	}
}

// truncate shortens s to about n bytes for a message, on a rune
// boundary (metric.Truncate).
func truncate(s string, n int) string { return metric.Truncate(s, n) }
