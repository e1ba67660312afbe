package httpapi

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/flagstorm/flagstorm/target/internal/flags"
)

// BodyError is a PATCH body that is not exactly one JSON object: empty,
// malformed, truncated, another kind of value, or followed by more data.
// Problems with one field are *flags.FieldError instead.
type BodyError struct {
	Msg string
	Err error // the underlying error, if any: a *json.SyntaxError, a read error, or *http.MaxBytesError
}

func (e *BodyError) Error() string { return e.Msg }
func (e *BodyError) Unwrap() error { return e.Err }

// DecodePatch reads a PATCH body strictly: exactly one JSON object whose
// members are among enabled (boolean), rolloutPercentage (integer) and
// description (string), each at most once, none null, with nothing after
// it, and whose values pass flags.Patch.Validate. Member names match
// exactly (encoding/json alone would accept "ENABLED").
//
// Errors are *flags.FieldError (one field is to blame: unknown, repeated,
// null, wrong type, out of range; Field "" when the patch sets nothing) or
// *BodyError (the body as a whole). A *BodyError wraps *http.MaxBytesError
// when r is an http.MaxBytesReader whose limit was hit.
func DecodePatch(r io.Reader) (flags.Patch, error) {
	p, err := decodePatch(r)
	if err != nil {
		return flags.Patch{}, err
	}
	return p, nil
}

func decodePatch(r io.Reader) (flags.Patch, error) {
	var p flags.Patch
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err == io.EOF {
		return p, &BodyError{Msg: `request body is empty; send a JSON object such as {"enabled": true}`}
	}
	if err != nil {
		return p, bodyError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return p, &BodyError{Msg: "request body must be a JSON object"}
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return p, bodyError(err)
		}
		name, ok := tok.(string)
		if !ok { // unreachable: the decoder only yields strings as object keys
			return p, &BodyError{Msg: "malformed JSON object"}
		}
		var seen bool
		switch name {
		case "enabled":
			seen = p.Enabled != nil
		case "rolloutPercentage":
			seen = p.RolloutPercentage != nil
		case "description":
			seen = p.Description != nil
		default:
			return p, &flags.FieldError{Field: clip(name), Msg: "unknown field; a patch may set enabled, rolloutPercentage and description"}
		}
		if seen {
			return p, &flags.FieldError{Field: name, Msg: "appears more than once"}
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return p, bodyError(err)
		}
		if err := setField(&p, name, raw); err != nil {
			return p, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return p, bodyError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return p, bodyError(err)
		}
		return p, &BodyError{Msg: "request body must hold exactly one JSON object; found more data after it", Err: err}
	}
	return p, p.Validate()
}

// setField decodes one member's raw value into p.
func setField(p *flags.Patch, name string, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 { // unreachable: Decode yields a whole value
		return &flags.FieldError{Field: name, Msg: "missing value"}
	}
	if string(raw) == "null" {
		return &flags.FieldError{Field: name, Msg: "must not be null; leave the field out to keep its value"}
	}
	switch name {
	case "enabled":
		var b bool
		if raw[0] != 't' && raw[0] != 'f' || json.Unmarshal(raw, &b) != nil {
			return &flags.FieldError{Field: name, Msg: "must be a boolean"}
		}
		p.Enabled = &b
	case "rolloutPercentage":
		if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') || bytes.ContainsAny(raw, ".eE") {
			return &flags.FieldError{Field: name, Msg: "must be an integer"}
		}
		n, err := strconv.Atoi(string(raw))
		if err != nil { // a JSON integer too large for an int
			return &flags.FieldError{Field: name, Msg: "must be between 0 and 100"}
		}
		p.RolloutPercentage = &n
	case "description":
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return &flags.FieldError{Field: name, Msg: "must be a string"}
		}
		p.Description = &s
	}
	return nil
}

// bodyError describes a failure of the JSON decoder.
func bodyError(err error) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
	)
	switch {
	case errors.As(err, &mbe):
		return &BodyError{Msg: fmt.Sprintf("request body must be at most %d bytes", mbe.Limit), Err: err}
	case errors.As(err, &se):
		return &BodyError{Msg: fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error()), Err: err}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &BodyError{Msg: "malformed JSON: unexpected end of the body", Err: err}
	}
	return &BodyError{Msg: "could not read the request body", Err: err}
}

// clip bounds a client-supplied name before it is echoed back.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}

// parseIfMatch returns the version a PATCH is conditional on; 0 means
// unconditional (no If-Match, or If-Match: *). Only one strong entity tag
// of the form "<version>" is accepted, as sent in our ETag: weak tags
// cannot match under the strong comparison If-Match requires, and a list
// of versions has no meaning for a single counter.
func parseIfMatch(h http.Header) (int64, error) {
	vs := h.Values("If-Match")
	switch len(vs) {
	case 0:
		return 0, nil
	case 1:
	default:
		return 0, ifMatchError("send one If-Match header, not several")
	}
	v := strings.TrimSpace(vs[0])
	switch {
	case v == "*":
		return 0, nil
	case strings.HasPrefix(v, "W/"):
		return 0, ifMatchError(`weak entity tags are not accepted; send the strong tag from ETag, such as "3"`)
	case strings.Contains(v, ","):
		return 0, ifMatchError(`send one entity tag, such as "3", or *`)
	case len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"':
		return 0, ifMatchError(`must be a quoted version such as "3", or *`)
	}
	digits := v[1 : len(v)-1]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, ifMatchError(`must be a quoted version such as "3", or *`)
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 1 || digits[0] == '0' {
		return 0, ifMatchError("the version must be a positive integer without leading zeros, as sent in ETag")
	}
	return n, nil
}

func ifMatchError(msg string) error {
	return &apiError{status: http.StatusBadRequest, code: "INVALID_HEADER", field: "If-Match", msg: "If-Match: " + msg}
}

// checkContentType accepts an absent Content-Type or application/json with
// no charset or charset=utf-8 (JSON is UTF-8, RFC 8259).
func checkContentType(h http.Header) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errUnsupportedMediaType
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errUnsupportedMediaType
	}
	return nil
}

// authorize checks the bearer token in constant time. Both sides are
// hashed first so that the comparison does not reveal the token's length.
func (h *Handler) authorize(r *http.Request) error {
	if !h.hasToken {
		return errTokenNotConfigured
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errMissingToken
	}
	scheme, token, ok := strings.Cut(auth, " ")
	token = strings.TrimLeft(token, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return errBadAuthScheme
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) != 1 {
		return errBadToken
	}
	return nil
}
