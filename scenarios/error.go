package scenarios

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ValidationError is one problem with a scenario file: where it is, which
// field, and what is wrong. Parse and Validate return errors.Join of every
// problem at once, each a *ValidationError, sorted by position (beyond
// 100 problems, a last one says how many more there are).
type ValidationError struct {
	File   string // as given to Parse; "" for a Spec built in code
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	// Field is the path of the offending value, like "timeline[1].fault.type",
	// "scenarios.readers.rate" or "thresholds.http_req_duration{phase:outage}[0]";
	// "" for the file as a whole.
	Field string
	Msg   string
}

// Error formats the problem as a compiler does:
//
//	redis-outage.yaml:12:5: timeline[1].fault.type: unknown fault type "lag" (want latency, ...)
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if e.File != "" {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Column))
		}
	}
	for _, part := range []string{e.Field, e.Msg} {
		if part == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(part)
	}
	return b.String()
}

// maxErrors bounds the problems one error reports, as compilers do.
const maxErrors = 100

// joinSorted sorts errs by position and joins the first maxErrors; nil
// when there are none.
func joinSorted(errs []*ValidationError) error {
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *ValidationError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	if n := len(errs) - maxErrors; n > 0 {
		errs = append(errs[:maxErrors:maxErrors], &ValidationError{File: errs[0].File, Msg: fmt.Sprintf("%d more problems not shown", n)})
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}
