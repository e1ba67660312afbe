package metric

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Tag is one name:value pair of a submetric selector.
type Tag struct {
	Name  string
	Value string
}

// Tags is a selector: the tags a sample must carry to count towards a
// submetric. ParseKey returns them sorted by name with unique names; an
// empty Tags selects the whole metric.
type Tags []Tag

// String is the canonical selector, "{name:get,phase:outage}", or "" when
// t is empty.
func (t Tags) String() string {
	if len(t) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, tag := range t {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tag.Name)
		b.WriteByte(':')
		b.WriteString(tag.Value)
	}
	b.WriteByte('}')
	return b.String()
}

// Get returns the value selected for the tag called name.
func (t Tags) Get(name string) (string, bool) {
	for _, tag := range t {
		if tag.Name == name {
			return tag.Value, true
		}
	}
	return "", false
}

// Map returns the selector as a map, the shape a recorder's series
// matching may want. It is nil when t is empty.
func (t Tags) Map() map[string]string {
	if len(t) == 0 {
		return nil
	}
	m := make(map[string]string, len(t))
	for _, tag := range t {
		m[tag.Name] = tag.Value
	}
	return m
}

// Matches reports whether a sample with the given tags belongs to the
// submetric: it carries every selected tag with the selected value.
func (t Tags) Matches(sample map[string]string) bool {
	for _, tag := range t {
		if v, ok := sample[tag.Name]; !ok || v != tag.Value {
			return false
		}
	}
	return true
}

// KeyError is a malformed threshold key. Msg says what is wrong without
// repeating the key, so that a caller can place it (a scenario file's
// line and field) and quote the key as it likes.
type KeyError struct {
	Key string // the key as written
	Msg string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("metric: threshold key %q: %s", e.Key, e.Msg)
}

// maxNameLen is k6's limit on metric names, which tag names share.
const maxNameLen = 128

// maxQuoted bounds a name quoted in a message.
const maxQuoted = 40

// ParseKey parses a threshold key: a metric name and an optional selector
// in braces, "http_req_duration{phase:outage, source:db}". It checks the
// syntax only; whether the metric and the tags exist is the caller's
// question (Lookup, IsTag), so that it can phrase the answer.
//
// Whitespace around the name, the braces, the tag names and the values is
// ignored; each pair is split at its first ':' (as k6 does), so a value
// may contain ':' but not ',', '{' or '}'; a value may be quoted with
// matching ' or ". Metric names follow k6's rule,
// [a-zA-Z_][a-zA-Z0-9_]{0,127}; tag names are [a-zA-Z_][a-zA-Z0-9_.-]* of
// the same length at most. The tags come back sorted by name, so that
// name+tags.String() is the canonical key. Errors are *KeyError.
func ParseKey(key string) (name string, tags Tags, err error) {
	fail := func(format string, args ...any) (string, Tags, error) {
		return "", nil, &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	s := strings.TrimSpace(key)
	open := strings.IndexByte(s, '{')
	name, sel := s, ""
	if open >= 0 {
		name, sel = strings.TrimSpace(s[:open]), s[open:]
	}
	if strings.Contains(name, "}") {
		return fail("unbalanced braces: '}' without '{'")
	}
	if msg := checkName(name, false); msg != "" {
		return fail("%s", msg)
	}
	if open < 0 {
		return name, nil, nil
	}
	if !strings.HasSuffix(sel, "}") {
		if i := strings.IndexByte(sel, '}'); i >= 0 {
			return fail("unexpected %q after the tag selector", sel[i+1:])
		}
		return fail("unbalanced braces: '{' without '}'")
	}
	inner := sel[1 : len(sel)-1]
	if strings.ContainsAny(inner, "{}") {
		return fail("unbalanced braces in the tag selector (selectors do not nest)")
	}
	if strings.TrimSpace(inner) == "" {
		return fail("empty tag selector {}: name a tag, as in %s{phase:outage}, or drop the braces", name)
	}
	for part := range strings.SplitSeq(inner, ",") {
		colon := strings.IndexByte(part, ':')
		if colon < 0 {
			if strings.TrimSpace(part) == "" {
				return fail("empty tag in the selector (a stray ',')")
			}
			return fail("tag %q has no value: write name:value", strings.TrimSpace(part))
		}
		t := Tag{Name: strings.TrimSpace(part[:colon]), Value: unquote(strings.TrimSpace(part[colon+1:]))}
		if msg := checkName(t.Name, true); msg != "" {
			return fail("%s", msg)
		}
		if msg := checkValue(t); msg != "" {
			return fail("%s", msg)
		}
		if _, dup := tags.Get(t.Name); dup {
			return fail("tag %q is selected twice", t.Name)
		}
		tags = append(tags, t)
	}
	slices.SortFunc(tags, func(a, b Tag) int { return strings.Compare(a.Name, b.Name) })
	return name, tags, nil
}

// checkName checks a metric name, or a tag name, which may also contain
// '.' and '-'.
func checkName(name string, isTag bool) string {
	what, allowed := "metric", "letters, digits and _"
	if isTag {
		what, allowed = "tag", "letters, digits, _, . and -"
	}
	switch {
	case name == "" && isTag:
		return "empty tag name: write name:value"
	case name == "":
		return "missing metric name"
	case len(name) > maxNameLen:
		return fmt.Sprintf("%s name is %d characters long; at most %d are allowed", what, len(name), maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		digit := '0' <= c && c <= '9'
		if !letter && (i == 0 || !digit && (!isTag || c != '.' && c != '-')) {
			return fmt.Sprintf("invalid %s name %q: names are %s and do not start with a digit", what, Truncate(name, maxQuoted), allowed)
		}
	}
	return ""
}

func checkValue(t Tag) string {
	if t.Value == "" {
		return fmt.Sprintf("tag %q has an empty value", t.Name)
	}
	if strings.ContainsFunc(t.Value, func(r rune) bool { return r == '"' || r == '\'' || r < ' ' || r == 0x7f }) {
		return fmt.Sprintf("tag %q: value %q has a quote or control character", t.Name, t.Value)
	}
	if strings.TrimSpace(t.Value) != t.Value {
		// Only a quoted value can keep edge spaces; the canonical form
		// could not say so.
		return fmt.Sprintf("tag %q: value %q starts or ends with a space", t.Name, t.Value)
	}
	return ""
}

// unquote strips one pair of matching quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// Truncate shortens s to at most n bytes on a rune boundary, marking the
// cut with "...": a name or value quoted in a message.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
