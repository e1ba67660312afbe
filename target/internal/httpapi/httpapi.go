package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flagstorm/flagstorm/target/internal/flags"
)

// Service is what the HTTP layer needs from the domain; *flags.Service
// implements it.
type Service interface {
	// Get returns one flag; Result.Body is the flag's JSON document.
	Get(ctx context.Context, env, key string) (flags.Result, error)
	// List returns an environment's flags; Result.Body is a flags.List
	// JSON document.
	List(ctx context.Context, env string) (flags.Result, error)
	// Evaluate decides a flag for a user.
	Evaluate(ctx context.Context, env, key, userID string) (flags.Evaluation, flags.Source, error)
	// Update applies p; ifVersion 0 means unconditional.
	Update(ctx context.Context, env, key string, p flags.Patch, ifVersion int64) (flags.Flag, error)
	// Ready reports the state of the backends.
	Ready(ctx context.Context) flags.Readiness
}

// Config configures a Handler.
type Config struct {
	// AdminToken authorizes PATCH requests (Authorization: Bearer <token>).
	// Empty: every PATCH is refused with 401 "admin token not configured".
	AdminToken string
	// Logger receives server-side failures (5xx), rate limited to about
	// one line a second. Nil: discard.
	Logger *slog.Logger
	// Registerer receives the HTTP metrics. Nil: no metrics are kept.
	Registerer prometheus.Registerer
	// Gatherer is served at GET /metrics. Nil: /metrics answers 404.
	Gatherer prometheus.Gatherer
}

// MaxBodyBytes bounds a PATCH body; larger bodies get 413.
const MaxBodyBytes = 64 << 10

// Route patterns, as registered with the mux and used as the route label.
const (
	routeList     = "GET /api/config/flags"
	routeFlag     = "GET /api/config/flags/{key}"
	routeEvaluate = "GET /api/config/flags/{key}/evaluate"
	routePatch    = "PATCH /api/config/flags/{key}"
	routeHealth   = "GET /healthz"
	routeReady    = "GET /readyz"
	routeMetrics  = "GET /metrics"
)

// Handler serves the flag server's HTTP API. Build it with New.
type Handler struct {
	svc       Service
	mux       *http.ServeMux
	log       *slog.Logger
	errLimit  logLimiter // 5xx lines
	downLimit logLimiter // readiness failures
	tokenSum  [sha256.Size]byte
	hasToken  bool
	m         *metrics // nil: no metrics
	recorders sync.Pool
}

// New builds the handler. svc is required.
func New(svc Service, cfg Config) (*Handler, error) {
	if svc == nil {
		return nil, errors.New("httpapi: service is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		svc:      svc,
		mux:      http.NewServeMux(),
		log:      log,
		hasToken: cfg.AdminToken != "",
		tokenSum: sha256.Sum256([]byte(cfg.AdminToken)),
	}
	h.recorders.New = func() any { return new(recorder) }

	routes := []string{routeList, routeFlag, routeEvaluate, routePatch, routeHealth, routeReady}
	h.mux.HandleFunc(routeList, h.list)
	h.mux.HandleFunc(routeFlag, h.get)
	h.mux.HandleFunc(routeEvaluate, h.evaluate)
	h.mux.HandleFunc(routePatch, h.patch)
	h.mux.HandleFunc(routeHealth, h.healthz)
	h.mux.HandleFunc(routeReady, h.readyz)
	if cfg.Gatherer != nil {
		h.mux.Handle(routeMetrics, promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
			ErrorHandling: promhttp.ContinueOnError,
		}))
		routes = append(routes, routeMetrics)
	}
	if cfg.Registerer != nil {
		m, err := newMetrics(cfg.Registerer, routes)
		if err != nil {
			return nil, err
		}
		h.m = m
	}
	return h, nil
}

// NewServer returns an http.Server for h with every timeout set:
// ReadHeaderTimeout 5s, ReadTimeout 10s, WriteTimeout 30s, IdleTimeout
// 120s, MaxHeaderBytes 64 KiB. Shut it down with Shutdown(ctx).
//
// WriteTimeout is 30 s, not less, because the seed profile's worst case is
// real: under a Redis blackhole a read pays 4 × 2 s for the GET and again
// for the SET, plus backoff (about 17 s) before it answers 200 from the
// database. A shorter timeout would turn that slow success into a dropped
// connection and hide what the story's settings cost.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// ServeHTTP routes r, turns the router's own plain-text errors into JSON
// and records the request's metrics.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := h.recorders.Get().(*recorder)
	rec.ResponseWriter, rec.req = w, r
	if h.m == nil {
		h.mux.ServeHTTP(rec, r)
	} else {
		h.m.inFlight.Inc()
		defer h.m.inFlight.Dec()
		start := time.Now()
		h.mux.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		h.m.observe(r.Pattern, r.Method, status, time.Since(start))
	}
	*rec = recorder{}
	h.recorders.Put(rec)
}

// Header values shared by every response. They are assigned to header maps
// directly (no per-request slice) and never modified in place.
var (
	hdrJSON    = []string{"application/json"}
	hdrNoStore = []string{"no-store"}
	hdrBearer  = []string{"Bearer"}
	hdrSources = func() [8][]string {
		var s [8][]string
		for _, src := range flags.Sources() {
			if int(src) < len(s) {
				s[src] = []string{src.String()}
			}
		}
		return s
	}()
)

const hdrSource = "X-Flag-Source"

// setSource sets X-Flag-Source when the source is known.
func setSource(hdr http.Header, s flags.Source) {
	if s == 0 {
		return
	}
	if int(s) < len(hdrSources) && hdrSources[s] != nil {
		hdr[hdrSource] = hdrSources[s]
		return
	}
	hdr[hdrSource] = []string{s.String()}
}

// writeBody writes a 200 JSON response whose headers are already set.
func writeBody(w http.ResponseWriter, hdr http.Header, body []byte) {
	hdr["Content-Type"] = hdrJSON
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) { h.read(w, r, false) }

func (h *Handler) get(w http.ResponseWriter, r *http.Request) { h.read(w, r, true) }

// read answers a read of one flag or of an environment's list: not
// cached by clients, its source in the header, its body or its error.
// (No closure: this is the hot path.)
func (h *Handler) read(w http.ResponseWriter, r *http.Request, one bool) {
	hdr := w.Header()
	hdr["Cache-Control"] = hdrNoStore
	var res flags.Result
	var err error
	if one {
		var env, key string
		if env, key, err = flagParams(r); err == nil {
			res, err = h.svc.Get(r.Context(), env, key)
		}
	} else {
		var env string
		if env, err = environment(r); err == nil {
			res, err = h.svc.List(r.Context(), env)
		}
	}
	setSource(hdr, res.Source)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, hdr, res.Body)
}

func (h *Handler) evaluate(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr["Cache-Control"] = hdrNoStore
	env, key, err := flagParams(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	user, ok := queryValue(r.URL.RawQuery, "userId")
	switch {
	case !ok || user == "":
		h.fail(w, r, errMissingUserID)
		return
	case !flags.ValidUserID(user):
		h.fail(w, r, errInvalidUserID)
		return
	}
	ev, src, err := h.svc.Evaluate(r.Context(), env, key, user)
	setSource(hdr, src)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	bp := bufPool.Get().(*[]byte)
	b, ok := appendEvaluation((*bp)[:0], ev)
	if !ok {
		if b, err = json.Marshal(ev); err != nil {
			bufPool.Put(bp)
			h.fail(w, r, err)
			return
		}
	} else {
		*bp = b
	}
	writeBody(w, hdr, b)
	if cap(*bp) <= 4<<10 {
		bufPool.Put(bp)
	}
}

func (h *Handler) patch(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr["Cache-Control"] = hdrNoStore
	if err := h.authorize(r); err != nil {
		h.fail(w, r, err)
		return
	}
	env, key, err := flagParams(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ifVersion, err := parseIfMatch(r.Header)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkContentType(r.Header); err != nil {
		h.fail(w, r, err)
		return
	}
	if r.ContentLength > MaxBodyBytes {
		h.fail(w, r, &http.MaxBytesError{Limit: MaxBodyBytes})
		return
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	p, err := DecodePatch(http.MaxBytesReader(w, body, MaxBodyBytes))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f, err := h.svc.Update(r.Context(), env, key, p, ifVersion)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	b, err := json.Marshal(f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hdr["Etag"] = []string{strconv.Quote(strconv.FormatInt(f.Version, 10))}
	setSource(hdr, flags.SourceDB)
	writeBody(w, hdr, b)
}

var healthBody = []byte(`{"status":"ok"}`)

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr["Cache-Control"] = hdrNoStore
	writeBody(w, hdr, healthBody)
}

type readiness struct {
	Status   string `json:"status"`
	Database string `json:"database"`
	Cache    string `json:"cache"`
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	rd := h.svc.Ready(r.Context())
	body := readiness{Status: "ready", Database: "up", Cache: rd.Cache}
	status := http.StatusOK
	if rd.Database != nil {
		body.Status, body.Database = "unready", "down"
		status = http.StatusServiceUnavailable
		if n, ok := h.downLimit.allow(); ok {
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "not ready: database down",
				slog.String("route", r.Pattern), slog.Any("err", rd.Database), slog.Int64("suppressed", n))
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hdr := w.Header()
	hdr["Cache-Control"] = hdrNoStore
	hdr["Content-Type"] = hdrJSON
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// environment returns the validated environment query parameter.
func environment(r *http.Request) (string, error) {
	env, ok := queryValue(r.URL.RawQuery, "environment")
	switch {
	case !ok || env == "":
		return "", errMissingEnvironment
	case !flags.ValidEnvironment(env):
		return "", errInvalidEnvironment
	}
	return env, nil
}

// flagParams returns the validated environment and {key}.
func flagParams(r *http.Request) (env, key string, err error) {
	if env, err = environment(r); err != nil {
		return "", "", err
	}
	key = r.PathValue("key")
	if !flags.ValidKey(key) {
		return "", "", errInvalidKey
	}
	return env, key, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
