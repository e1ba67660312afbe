// Package httpapi serves the flag service over HTTP:
//
//	GET   /readyz                                  200 once the database answers, else 503
//	GET   /api/config/flags?environment=E          200 {"flags": [...]} sorted by key
//	GET   /api/config/flags/{key}?environment=E    200 flag, 404 unknown
//	PATCH /api/config/flags/{key}?environment=E    200 updated flag; 401 bad token,
//	                                               400 bad body, 404 unknown
//
// A missing environment is 400. Errors are {"error": "..."}; a 500 never
// carries the internal error's text.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/examples/minimal-go/internal/flags"
)

// Flags is what the API serves (a *flags.Service).
type Flags interface {
	List(ctx context.Context, env string) ([]flags.Flag, error)
	Flag(ctx context.Context, env, key string) (flags.Flag, error)
	Update(ctx context.Context, env, key string, p flags.Patch) (flags.Flag, error)
}

// Pinger reports whether the database answers (a *flags.Store).
type Pinger interface {
	Ping(ctx context.Context) error
}

// New returns the API's handler. An empty adminToken refuses every write.
func New(fl Flags, db Pinger, adminToken string, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &api{flags: fl, db: db, log: log}
	if adminToken != "" {
		h := sha256.Sum256([]byte(adminToken))
		a.tokenHash = h[:]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", a.ready)
	mux.HandleFunc("GET /api/config/flags", a.list)
	mux.HandleFunc("GET /api/config/flags/{key}", a.get)
	mux.HandleFunc("PATCH /api/config/flags/{key}", a.update)
	return mux
}

type api struct {
	flags     Flags
	db        Pinger
	tokenHash []byte // nil: writes refused
	log       *slog.Logger
}

func (a *api) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.db.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{"database not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	env, ok := environment(w, r)
	if !ok {
		return
	}
	fs, err := a.flags.List(r.Context(), env)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Flags []flags.Flag `json:"flags"`
	}{fs})
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	env, ok := environment(w, r)
	if !ok {
		return
	}
	f, err := a.flags.Flag(r.Context(), env, r.PathValue("key"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (a *api) update(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeJSON(w, http.StatusUnauthorized, errorBody{"missing or wrong bearer token"})
		return
	}
	env, ok := environment(w, r)
	if !ok {
		return
	}
	p, err := flags.DecodePatch(r.Body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f, err := a.flags.Update(r.Context(), env, r.PathValue("key"), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// authorized compares the bearer token in constant time (hashes of equal
// length, so not even the token's length leaks).
func (a *api) authorized(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || a.tokenHash == nil {
		return false
	}
	h := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(h[:], a.tokenHash) == 1
}

func environment(w http.ResponseWriter, r *http.Request) (string, bool) {
	env := r.URL.Query().Get("environment")
	if env == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{"query parameter environment is required"})
		return "", false
	}
	return env, true
}

type errorBody struct {
	Error string `json:"error"`
}

// fail maps a domain error to its status; anything unexpected is a 500
// whose details only go to the log.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, flags.ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{"flag not found"})
	case errors.Is(err, flags.ErrInvalidPatch):
		writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
	default:
		a.log.Error("request failed", "route", r.Pattern, "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{"internal error"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
