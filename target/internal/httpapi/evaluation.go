package httpapi

import (
	"strconv"

	"github.com/flagstorm/flagstorm/target/internal/flags"
)

// appendEvaluation appends e's JSON document to b, byte for byte what
// json.Marshal(e) produces, without reflection or allocation. It reports
// false, leaving b as it was, when a string would need escaping; the
// caller then falls back to json.Marshal. Validated keys, environments and
// user IDs never do.
func appendEvaluation(b []byte, e flags.Evaluation) ([]byte, bool) {
	if !plainJSON(e.Key) || !plainJSON(e.Environment) || !plainJSON(e.UserID) || !plainJSON(e.Reason) {
		return b, false
	}
	b = append(b, `{"key":"`...)
	b = append(b, e.Key...)
	b = append(b, `","environment":"`...)
	b = append(b, e.Environment...)
	b = append(b, `","userId":"`...)
	b = append(b, e.UserID...)
	b = append(b, `","enabled":`...)
	b = strconv.AppendBool(b, e.Enabled)
	b = append(b, `,"reason":"`...)
	b = append(b, e.Reason...)
	b = append(b, `","bucket":`...)
	b = strconv.AppendInt(b, int64(e.Bucket), 10)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, e.Version, 10)
	b = append(b, '}')
	return b, true
}

// plainJSON reports whether encoding/json writes s inside quotes unchanged:
// printable ASCII other than '"', '\\' and the HTML-escaped '<', '>', '&'.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
