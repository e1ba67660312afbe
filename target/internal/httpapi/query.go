package httpapi

import (
	"net/url"
	"strings"
)

// queryValue returns the first value of name in a raw query string, with
// the semantics of url.ParseQuery(raw).Get(name) (pairs that do not parse,
// including ones with a ';', are skipped) but without building the map: a
// value without escapes is a substring of raw and costs no allocation.
func queryValue(raw, name string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			uk, err := url.QueryUnescape(k)
			if err != nil || uk != name {
				continue
			}
		}
		if !strings.ContainsAny(v, "%+") {
			return v, true
		}
		uv, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		return uv, true
	}
	return "", false
}
