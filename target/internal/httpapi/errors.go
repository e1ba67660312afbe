package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/flagstorm/flagstorm/target/internal/flags"
)

// apiError is an error as the client sees it: status, stable code, the
// field to blame and a message safe to send.
type apiError struct {
	status int
	code   string
	field  string
	msg    string
	body   []byte // pre-encoded for the static errors below; nil: encode on use
}

func (e *apiError) Error() string { return e.msg }

func staticError(status int, code, field, msg string) *apiError {
	e := &apiError{status: status, code: code, field: field, msg: msg}
	e.body = e.encode()
	return e
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Field string `json:"field,omitempty"`
}

func (e *apiError) encode() []byte {
	b, err := json.Marshal(errorBody{Error: e.msg, Code: e.code, Field: e.field})
	if err != nil { // strings always encode; keep a valid body regardless
		return []byte(`{"error":"internal error","code":"INTERNAL"}`)
	}
	return b
}

// Errors found by this package before the service is called.
var (
	errMissingEnvironment = staticError(http.StatusBadRequest, "MISSING_ENVIRONMENT", "environment",
		"query parameter environment is required")
	errInvalidEnvironment = staticError(http.StatusBadRequest, "INVALID_ENVIRONMENT", "environment",
		"environment must be lower-case letters, digits and '-', starting with a letter, at most 32 bytes")
	errInvalidKey = staticError(http.StatusBadRequest, "INVALID_KEY", "key",
		"flag key must be 1-128 bytes of lower-case letters, digits, '.', '_' and '-', starting with a letter or digit")
	errMissingUserID = staticError(http.StatusBadRequest, "MISSING_USER_ID", "userId",
		"query parameter userId is required")
	errInvalidUserID = staticError(http.StatusBadRequest, "INVALID_USER_ID", "userId",
		"userId must be 1-128 characters of letters, digits, '.', '_', '@', ':' or '-'")
	errTokenNotConfigured = staticError(http.StatusUnauthorized, "UNAUTHORIZED", "",
		"admin token not configured; updates are disabled on this server")
	errMissingToken = staticError(http.StatusUnauthorized, "UNAUTHORIZED", "",
		"missing admin token; send Authorization: Bearer <token>")
	errBadAuthScheme = staticError(http.StatusUnauthorized, "UNAUTHORIZED", "",
		"the Authorization header must be Bearer <token>")
	errBadToken = staticError(http.StatusUnauthorized, "UNAUTHORIZED", "",
		"invalid admin token")
	errUnsupportedMediaType = staticError(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Content-Type",
		"Content-Type must be application/json (UTF-8)")
	errBodyTooLarge = staticError(http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", "",
		fmt.Sprintf("request body must be at most %d bytes", MaxBodyBytes))

	errUnknownEnvironment = staticError(http.StatusBadRequest, "UNKNOWN_ENVIRONMENT", "environment",
		"this server does not serve that environment")
	errFlagNotFound = staticError(http.StatusNotFound, "FLAG_NOT_FOUND", "",
		"flag not found in this environment")
	errVersionConflict = staticError(http.StatusPreconditionFailed, "VERSION_CONFLICT", "If-Match",
		"the flag has changed since that version; read it again and retry")
	errUnavailable = staticError(http.StatusServiceUnavailable, "UNAVAILABLE", "",
		"the flag store is unavailable; retry later")
	errInternal = staticError(http.StatusInternalServerError, "INTERNAL", "",
		"internal error")

	errRouteNotFound = staticError(http.StatusNotFound, "NOT_FOUND", "",
		"no such route")
	errMethodNotAllowed = staticError(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "",
		"method not allowed on this route; see the Allow header")
	errBadRequest = staticError(http.StatusBadRequest, "BAD_REQUEST", "",
		"malformed request")
)

// muxError is the JSON counterpart of an error the ServeMux produced.
func muxError(status int) *apiError {
	switch status {
	case http.StatusNotFound:
		return errRouteNotFound
	case http.StatusMethodNotAllowed:
		return errMethodNotAllowed
	case http.StatusBadRequest:
		return errBadRequest
	}
	if status >= 500 {
		return errInternal
	}
	return &apiError{status: status, code: "BAD_REQUEST", msg: http.StatusText(status)}
}

// classify maps any error a handler meets to what the client is told. It
// is the only place that decides statuses and codes; 5xx messages are
// generic, whatever err says.
func classify(err error) *apiError {
	var (
		ae  *apiError
		mbe *http.MaxBytesError
		fe  *flags.FieldError
		be  *BodyError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		return errBodyTooLarge
	case errors.As(err, &fe):
		code := "INVALID_FIELD"
		switch fe.Field {
		case "":
			code = "INVALID_BODY"
		case "environment":
			code = "INVALID_ENVIRONMENT"
		case "key":
			code = "INVALID_KEY"
		case "userId":
			code = "INVALID_USER_ID"
		case "If-Match":
			code = "INVALID_HEADER"
		}
		return &apiError{status: http.StatusBadRequest, code: code, field: fe.Field, msg: fe.Error()}
	case errors.As(err, &be):
		return &apiError{status: http.StatusBadRequest, code: "INVALID_BODY", msg: be.Msg}
	case errors.Is(err, flags.ErrUnknownEnvironment):
		return errUnknownEnvironment
	case errors.Is(err, flags.ErrNotFound):
		return errFlagNotFound
	case errors.Is(err, flags.ErrVersionConflict):
		return errVersionConflict
	case errors.Is(err, flags.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return errUnavailable
	}
	return errInternal
}

// fail answers r with err's status and JSON body, logging server-side
// failures.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	ae := classify(err)
	if ae.status >= 500 {
		if n, ok := h.errLimit.allow(); ok {
			attrs := []slog.Attr{
				slog.String("route", r.Pattern),
				slog.Int("status", ae.status),
				slog.Any("err", err),
			}
			if key := r.PathValue("key"); flags.ValidKey(key) {
				attrs = append(attrs, slog.String("flag_key", key))
			}
			if n > 0 {
				attrs = append(attrs, slog.Int64("suppressed", n))
			}
			h.log.LogAttrs(r.Context(), slog.LevelError, "request failed", attrs...)
		}
	}
	writeError(w, ae)
}

// writeError writes e as the response.
func writeError(w http.ResponseWriter, e *apiError) {
	hdr := w.Header()
	hdr["Content-Type"] = hdrJSON
	hdr.Del("Content-Length")
	hdr.Del("Etag")
	if e.status == http.StatusUnauthorized {
		hdr["Www-Authenticate"] = hdrBearer
	}
	body := e.body
	if body == nil {
		body = e.encode()
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// logLimiter lets about one line a second through, so an outage does not
// become a log line per request; it counts what it held back.
type logLimiter struct {
	last       atomic.Int64
	suppressed atomic.Int64
}

// allow reports whether to log now and how many lines were suppressed
// since the last one that was.
func (l *logLimiter) allow() (int64, bool) {
	now := time.Now().UnixNano()
	last := l.last.Load()
	if now-last >= int64(time.Second) && l.last.CompareAndSwap(last, now) {
		return l.suppressed.Swap(0), true
	}
	l.suppressed.Add(1)
	return 0, false
}
