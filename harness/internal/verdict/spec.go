package verdict

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Spec is one threshold as a scenario file writes it: either a bare
// expression,
//
//	http_req_failed: ["rate==0"]
//
// or an object with k6's options,
//
//	checks: [{threshold: "rate>0.99", abortOnFail: true, delayAbortEval: "10s"}]
//
// Decoding checks the shape only (field names and types, the duration);
// Parse checks the expression.
type Spec struct {
	Threshold string // the expression, "p(95)<50"
	// AbortOnFail stops the run as soon as the threshold fails while it
	// runs (see Watcher). Default false: judged at the end only.
	AbortOnFail bool
	// DelayAbortEval is how much run time must pass before an
	// abortOnFail threshold is judged while the run goes on, so that
	// enough samples exist. Zero: from the start. It needs AbortOnFail.
	DelayAbortEval time.Duration
}

const specShape = `a threshold is a string such as "p(95)<50" or a mapping {threshold: "p(95)<50", abortOnFail: true, delayAbortEval: "10s"}`

// UnmarshalYAML accepts both shapes. Its errors are *yaml.TypeError with
// yaml.v3's "line N: ..." messages, so a decoder reports every bad
// threshold of a file at once, each with its line.
func (s *Spec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	var errs []string
	bad := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("line %d: %s", n.Line, fmt.Sprintf(format, args...)))
	}
	var out Spec
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() != "!!str" {
			bad(n, "threshold %s is not a string: %s", n.Value, specShape)
			break
		}
		out.Threshold = n.Value
	case yaml.MappingNode:
		seen := map[string]bool{}
		hasThreshold := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			if seen[k.Value] {
				bad(k, "threshold field %q appears twice", k.Value)
				continue
			}
			seen[k.Value] = true
			switch k.Value {
			case "threshold":
				if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
					bad(v, "threshold must be a string such as \"p(95)<50\"")
					continue
				}
				out.Threshold, hasThreshold = v.Value, true
			case "abortOnFail":
				if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
					bad(v, "abortOnFail must be true or false, not %q", v.Value)
					continue
				}
				if err := v.Decode(&out.AbortOnFail); err != nil {
					bad(v, "abortOnFail: %v", err)
				}
			case "delayAbortEval":
				if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
					bad(v, "delayAbortEval must be a duration with a unit, such as \"10s\", not %s", v.Value)
					continue
				}
				d, msg := parseDelay(v.Value)
				if msg != "" {
					bad(v, "%s", msg)
					continue
				}
				out.DelayAbortEval = d
			default:
				bad(k, "unknown threshold field %q (want threshold, abortOnFail, delayAbortEval)", k.Value)
			}
		}
		if !hasThreshold && !seen["threshold"] {
			bad(n, "threshold mapping has no threshold field")
		}
	default:
		bad(n, "%s", specShape)
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	*s = out
	return nil
}

// MarshalYAML writes the short form when no option is set.
func (s Spec) MarshalYAML() (any, error) {
	if !s.AbortOnFail && s.DelayAbortEval == 0 {
		return s.Threshold, nil
	}
	return specObject{Threshold: s.Threshold, AbortOnFail: s.AbortOnFail, DelayAbortEval: delayString(s.DelayAbortEval)}, nil
}

// specObject is the long form's wire shape.
type specObject struct {
	Threshold      string `json:"threshold" yaml:"threshold"`
	AbortOnFail    bool   `json:"abortOnFail,omitempty" yaml:"abortOnFail,omitempty"`
	DelayAbortEval string `json:"delayAbortEval,omitempty" yaml:"delayAbortEval,omitempty"`
}

// UnmarshalJSON accepts both shapes; unknown fields are errors. null
// leaves s unchanged, as encoding/json does for other types.
func (s *Spec) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case bytes.Equal(data, []byte("null")):
		return nil
	case len(data) > 0 && data[0] == '"':
		var t string
		if err := json.Unmarshal(data, &t); err != nil {
			return fmt.Errorf("verdict: threshold: %w", err)
		}
		*s = Spec{Threshold: t}
		return nil
	case len(data) > 0 && data[0] == '{':
		var o struct {
			Threshold      *string `json:"threshold"`
			AbortOnFail    bool    `json:"abortOnFail"`
			DelayAbortEval *string `json:"delayAbortEval"`
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			return fmt.Errorf("verdict: threshold: %w", err)
		}
		if o.Threshold == nil {
			return fmt.Errorf("verdict: threshold object has no threshold field")
		}
		out := Spec{Threshold: *o.Threshold, AbortOnFail: o.AbortOnFail}
		if o.DelayAbortEval != nil {
			d, msg := parseDelay(*o.DelayAbortEval)
			if msg != "" {
				return fmt.Errorf("verdict: threshold %q: %s", out.Threshold, msg)
			}
			out.DelayAbortEval = d
		}
		*s = out
		return nil
	}
	return fmt.Errorf("verdict: %s", specShape)
}

// MarshalJSON writes the short form when no option is set. It does not
// escape < and > itself; an encoder with SetEscapeHTML(false) keeps them
// readable.
func (s Spec) MarshalJSON() ([]byte, error) {
	var v any = s.Threshold
	if s.AbortOnFail || s.DelayAbortEval != 0 {
		v = specObject{Threshold: s.Threshold, AbortOnFail: s.AbortOnFail, DelayAbortEval: delayString(s.DelayAbortEval)}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func delayString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// parseDelay reads a delayAbortEval: a Go duration, which k6's "10s",
// "1m30s" and "500ms" are.
func parseDelay(s string) (time.Duration, string) {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Sprintf("delayAbortEval %q is not a duration: write one with a unit, such as \"10s\" or \"1m30s\"", s)
	case d < 0:
		return 0, fmt.Sprintf("delayAbortEval %q is negative", s)
	}
	return d, ""
}
