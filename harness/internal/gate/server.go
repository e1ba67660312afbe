package gate

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gopkg.in/yaml.v3"
)

// MaxBodyBytes bounds a request body (Argo's request or Flagger's
// payload); a larger one gets 413.
const MaxBodyBytes = 64 << 10

// Hook is a Flagger webhook type.
type Hook string

// Flagger's webhook types (flagger.app/v1beta1 HookType).
const (
	HookConfirmRollout         Hook = "confirm-rollout"
	HookPreRollout             Hook = "pre-rollout"
	HookRollout                Hook = "rollout"
	HookConfirmTrafficIncrease Hook = "confirm-traffic-increase"
	HookConfirmPromotion       Hook = "confirm-promotion"
	HookPostRollout            Hook = "post-rollout"
	HookRollback               Hook = "rollback"
	HookEvent                  Hook = "event"
)

// Hooks are every hook type, in Flagger's order.
var Hooks = []Hook{HookConfirmRollout, HookPreRollout, HookRollout, HookConfirmTrafficIncrease,
	HookConfirmPromotion, HookPostRollout, HookRollback, HookEvent}

// ParseHook parses a Flagger hook type.
func ParseHook(s string) (Hook, error) {
	for _, h := range Hooks {
		if string(h) == s {
			return h, nil
		}
	}
	names := make([]string, len(Hooks))
	for i, h := range Hooks {
		names[i] = string(h)
	}
	return "", fmt.Errorf("unknown Flagger hook %s: want one of %s", clip(s), strings.Join(names, ", "))
}

// Routes of the gate's HTTP API.
const (
	RouteEvaluate = "POST /v1/evaluate"
	RouteFlagger  = "POST /v1/flagger/{hook}"
	RouteHealth   = "GET /healthz"
	RouteMetrics  = "GET /metrics"
)

// Flagger metadata keys the gate reads.
const (
	MetaCanary   = "canary"
	MetaBaseline = "baseline"
	MetaConfig   = "config"
)

// ServerConfig is how the HTTP API protects itself.
type ServerConfig struct {
	// Token, when not empty, is the bearer token every request to /v1/
	// must carry (Authorization: Bearer TOKEN); without it, 401. At least
	// MinTokenBytes, printable ASCII without spaces. /healthz and
	// /metrics stay open. Default: none (anyone who reaches the gate may
	// ask it; restrict who can with a NetworkPolicy).
	Token string
	// MaxEvaluations bounds the evaluations in flight; one more is
	// answered at once, without waiting (Argo: 503 BUSY, Flagger: 424),
	// with Retry-After. 0 means DefaultMaxEvaluations.
	MaxEvaluations int
}

// DefaultMaxEvaluations is ServerConfig.MaxEvaluations's default. Each
// evaluation has up to 8 queries in flight, so Prometheus sees at most
// 8×8 of the gate's queries at once.
const DefaultMaxEvaluations = 8

// MinTokenBytes is the shortest bearer token the server accepts.
const MinTokenBytes = 16

// busyRetryAfter is the Retry-After of an answer refused because
// MaxEvaluations are in flight.
const busyRetryAfter = 2 * time.Second

// Server is the gate's HTTP API: Argo Rollouts' web metric provider,
// Flagger's webhooks, /healthz and /metrics.
type Server struct {
	gate    *Gate
	log     *slog.Logger
	metrics *Metrics
	mux     *http.ServeMux
	// token is the SHA-256 of ServerConfig.Token, nil without one.
	token []byte
	// slots holds one token per evaluation in flight.
	slots chan struct{}
}

// NewServer returns the HTTP API over g. A nil log discards; a nil reg
// exports no metrics (and /metrics answers 404).
func NewServer(g *Gate, cfg ServerConfig, log *slog.Logger, reg *prometheus.Registry) (*Server, error) {
	if g == nil {
		return nil, errors.New("gate: NewServer needs a Gate")
	}
	if cfg.MaxEvaluations < 0 {
		return nil, fmt.Errorf("gate: max evaluations %d: want 0 (default %d) or more", cfg.MaxEvaluations, DefaultMaxEvaluations)
	}
	if cfg.MaxEvaluations == 0 {
		cfg.MaxEvaluations = DefaultMaxEvaluations
	}
	var token []byte
	if cfg.Token != "" {
		if len(cfg.Token) < MinTokenBytes {
			return nil, fmt.Errorf("gate: token of %d bytes: want at least %d", len(cfg.Token), MinTokenBytes)
		}
		for _, r := range cfg.Token {
			if r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' {
				return nil, errors.New("gate: token: want printable ASCII without spaces")
			}
		}
		sum := sha256.Sum256([]byte(cfg.Token))
		token = sum[:]
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var r prometheus.Registerer
	if reg != nil {
		r = reg
	}
	m, err := NewMetrics(r)
	if err != nil {
		return nil, fmt.Errorf("gate: register metrics: %w", err)
	}
	s := &Server{gate: g, log: log, metrics: m, mux: http.NewServeMux(), token: token, slots: make(chan struct{}, cfg.MaxEvaluations)}
	s.mux.HandleFunc(RouteEvaluate, s.evaluate)
	s.mux.HandleFunc(RouteFlagger, s.flagger)
	s.mux.HandleFunc(RouteHealth, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	if reg != nil {
		s.mux.Handle(RouteMetrics, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
	return s, nil
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// authorized reports whether r carries the bearer token, when one is
// configured. The comparison is of hashes, in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if s.token == nil {
		return true
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], s.token) == 1
}

const unauthorized = "missing or wrong bearer token: send Authorization: Bearer TOKEN (the gate's --token-file or FLAGSTORM_GATE_TOKEN)"

func setUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="flagstorm-gate"`)
}

// acquire takes an evaluation slot, without waiting; release gives it back.
func (s *Server) acquire() bool {
	select {
	case s.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *Server) release() { <-s.slots }

func setRetryAfter(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(busyRetryAfter/time.Second)))
}

// Shutdown timing: requests in flight get ShutdownGrace to finish; then
// the evaluations still running are canceled (they answer at once: Argo
// 503, Flagger 424) and get shutdownAbortWait to write that answer; then
// the remaining connections are closed.
const (
	ShutdownGrace     = 3 * time.Second
	shutdownAbortWait = 2 * time.Second
)

// Serve answers on ln until ctx ends, then shuts down within about
// ShutdownGrace plus 2 s, whatever is in flight.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Requests' contexts derive from base, not from ctx: a signal must
	// not cancel the evaluations in flight before the grace period.
	base, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      MaxTimeout + 10*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gate: serve: %w", err)
	case <-ctx.Done():
	}
	err := shutdown(ctx, srv, ShutdownGrace)
	if err != nil {
		s.log.Warn("requests still in flight after the grace period: canceling them", "duration", ShutdownGrace.String())
		abort()
		if err = shutdown(ctx, srv, shutdownAbortWait); err != nil {
			err = srv.Close()
		}
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && serr != nil {
		return fmt.Errorf("gate: serve: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("gate: shut down: %w", err)
	}
	return nil
}

// shutdown is srv.Shutdown bounded by d, even after ctx ended.
func shutdown(ctx context.Context, srv *http.Server, d time.Duration) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	return srv.Shutdown(sctx)
}

// apiError is the JSON error body of /v1/evaluate.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error","code":"INTERNAL"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeText(w http.ResponseWriter, status int, line string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, oneLine(line)+"\n")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// badRequest is a client's mistake, naming the field.
type badRequest struct {
	status int // 400 or 413
	field  string
	err    error
}

func (b *badRequest) Error() string { return b.err.Error() }

func bad(field string, err error) *badRequest {
	if f := FirstField(err); f != "" {
		field = f
	}
	return &badRequest{status: http.StatusBadRequest, field: field, err: err}
}

// decodeBody decodes one JSON object from the size-limited body.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, strict bool) *badRequest {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &badRequest{status: http.StatusUnsupportedMediaType, field: "Content-Type", err: fmt.Errorf("content type %q: want application/json", ct)}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if strict {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	var (
		maxErr  *http.MaxBytesError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case err == nil:
		if dec.More() {
			return bad("body", errors.New("body: want one JSON object, found more after it"))
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return bad("body", errors.New("body: want one JSON object, found more after it"))
		}
		return nil
	case errors.As(err, &maxErr):
		return &badRequest{status: http.StatusRequestEntityTooLarge, field: "body", err: fmt.Errorf("body: larger than %d bytes", MaxBodyBytes)}
	case errors.Is(err, io.EOF):
		return bad("body", errors.New("body: empty; want a JSON object"))
	case errors.As(err, &typeErr):
		field := clipName(typeErr.Field)
		return bad(field, fmt.Errorf("%s: want %s, got a JSON %s", field, typeErr.Type, clipName(typeErr.Value)))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := clipName(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
		return bad(name, fmt.Errorf("%s: unknown field", name))
	}
	return bad("body", fmt.Errorf("body: not valid JSON: %s", clipText(err.Error())))
}

// EvaluateRequest is the body of POST /v1/evaluate.
type EvaluateRequest struct {
	// Canary and Baseline are PromQL label matchers. Required.
	Canary   string `json:"canary"`
	Baseline string `json:"baseline"`
	// Config overrides numeric limits of the server's configuration (same
	// names as the configuration file; [LimitFields]).
	Config map[string]any `json:"config,omitempty"`
}

func (s *Server) evaluate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !s.authorized(r) {
		s.log.Info("unauthorized", "source", SourceArgo)
		setUnauthorized(w)
		writeJSON(w, http.StatusUnauthorized, apiError{Error: unauthorized, Code: "UNAUTHORIZED"})
		return
	}
	var body EvaluateRequest
	if b := decodeBody(w, r, &body, true); b != nil {
		s.rejectJSON(w, SourceArgo, b)
		return
	}
	var override any
	if body.Config != nil {
		override = body.Config
	}
	req, b := s.request(body.Canary, body.Baseline, "", override, "config")
	if b != nil {
		s.rejectJSON(w, SourceArgo, b)
		return
	}
	if !s.acquire() {
		s.log.Warn("busy: too many evaluations in flight", "source", SourceArgo, "status", http.StatusServiceUnavailable)
		setRetryAfter(w)
		writeJSON(w, http.StatusServiceUnavailable, apiError{
			Error: fmt.Sprintf("busy: %d evaluations in flight; retry later", cap(s.slots)), Code: "BUSY"})
		return
	}
	res, err := s.gate.Evaluate(r.Context(), req)
	s.release()
	s.metrics.Observe(SourceArgo, res, time.Since(start))
	if err != nil && r.Context().Err() != nil {
		s.log.Warn("evaluation canceled", "source", SourceArgo, "canary", selText(req.Canary), "duration", time.Since(start))
		writeJSON(w, http.StatusServiceUnavailable, apiError{
			Error: "evaluation canceled: the gate is shutting down or the client left", Code: "CANCELED"})
		return
	}
	if err != nil {
		s.log.Warn("could not evaluate", "source", SourceArgo, "canary", selText(req.Canary), "err", logText(err), "duration", time.Since(start))
		writeJSON(w, http.StatusServiceUnavailable, apiError{
			Error: "could not query Prometheus; the gate's log says why", Code: "PROMETHEUS_UNAVAILABLE"})
		return
	}
	s.log.Info("evaluated", "source", SourceArgo, "canary", res.Canary, "verdict", res.Verdict.String(), "critical", res.Critical, "duration", time.Since(start))
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) rejectJSON(w http.ResponseWriter, source string, b *badRequest) {
	msg := b.message()
	s.log.Info("bad request", "source", source, "field", clipName(b.field), "status", b.status, "err", msg)
	code := "BAD_REQUEST"
	if b.status == http.StatusRequestEntityTooLarge {
		code = "BODY_TOO_LARGE"
	} else if b.status == http.StatusUnsupportedMediaType {
		code = "UNSUPPORTED_MEDIA_TYPE"
	}
	writeJSON(w, b.status, apiError{Error: msg, Code: code, Field: clipName(b.field)})
}

// maxErrorBytes bounds the error text of a 4xx answer (and its log line).
// The messages quote a client's values cut short already; this is the
// last bound, for several problems joined.
const maxErrorBytes = 512

// message is the bad request's error on one line, bounded.
func (b *badRequest) message() string {
	msg := oneLine(strings.ReplaceAll(b.err.Error(), "\n", "; "))
	if len(msg) > maxErrorBytes {
		msg = cut(msg, maxErrorBytes) + "..."
	}
	return msg
}

// logText bounds an error for the log: it may hold a query (with a
// selector of up to MaxSelectorBytes) and Prometheus's answer.
func logText(err error) string {
	const n = 4 << 10
	s := err.Error()
	if len(s) > n {
		return cut(s, n) + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

// request builds an evaluation from selector text and config overrides;
// prefix names where the selectors sit ("" or "metadata.").
func (s *Server) request(canary, baseline, prefix string, override any, overrideField string) (Request, *badRequest) {
	var req Request
	var err error
	if canary == "" {
		return req, bad(prefix+"canary", fmt.Errorf("%scanary: required: PromQL label matchers like {track=\"canary\"}", prefix))
	}
	if req.Canary, err = ParseSelector(canary); err != nil {
		return req, bad(prefix+"canary", fmt.Errorf("%scanary: %w", prefix, err))
	}
	if baseline == "" {
		return req, bad(prefix+"baseline", fmt.Errorf("%sbaseline: required: PromQL label matchers like {track=\"baseline\"}", prefix))
	}
	if req.Baseline, err = ParseSelector(baseline); err != nil {
		return req, bad(prefix+"baseline", fmt.Errorf("%sbaseline: %w", prefix, err))
	}
	if req.Canary.String() == req.Baseline.String() {
		return req, bad(prefix+"baseline", fmt.Errorf("%sbaseline: the same series as the canary: nothing to compare", prefix))
	}
	if override != nil {
		cfg, err := s.gate.Config().OverrideLimits(overrideField, override)
		if err != nil {
			return req, bad(overrideField, err)
		}
		req.Config = &cfg
	}
	return req, nil
}

// FlaggerPayload is Flagger's webhook body (flagger.app/v1beta1
// CanaryWebhookPayload). Fields Flagger may add later are ignored.
type FlaggerPayload struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Checksum  string            `json:"checksum"`
	Metadata  map[string]string `json:"metadata"`
}

// k8sName is a Kubernetes object name (DNS subdomain); checked before a
// name is substituted into a selector template, so it cannot inject
// matchers.
var k8sName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

func (s *Server) flagger(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !s.authorized(r) {
		s.log.Info("unauthorized", "source", SourceFlagger)
		setUnauthorized(w)
		writeText(w, http.StatusUnauthorized, unauthorized)
		return
	}
	hook, err := ParseHook(r.PathValue("hook"))
	if err != nil {
		writeText(w, http.StatusNotFound, err.Error())
		return
	}
	var p FlaggerPayload
	if b := decodeBody(w, r, &p, false); b != nil {
		s.rejectText(w, hook, b)
		return
	}
	for _, f := range []struct{ field, v string }{{"name", p.Name}, {"namespace", p.Namespace}} {
		if !k8sName.MatchString(f.v) {
			s.rejectText(w, hook, bad(f.field, fmt.Errorf("%s: %s: want a Kubernetes name (Flagger sends the canary's)", f.field, clip(f.v))))
			return
		}
	}
	target := p.Name + "." + p.Namespace
	switch hook {
	case HookPostRollout, HookEvent:
		// Notifications: Flagger only logs a failure. Nothing to judge.
		writeText(w, http.StatusOK, fmt.Sprintf("acknowledged %s for %s (phase %s)", hook, target, p.Phase))
		return
	}
	for k := range p.Metadata {
		if k != MetaCanary && k != MetaBaseline && k != MetaConfig {
			k = clipName(k)
			s.rejectText(w, hook, bad("metadata."+k, fmt.Errorf("metadata.%s: unknown key: want %s, %s or %s", k, MetaCanary, MetaBaseline, MetaConfig)))
			return
		}
	}
	cfg := s.gate.Config()
	canary, baseline := p.Metadata[MetaCanary], p.Metadata[MetaBaseline]
	for _, f := range []struct {
		sel  *string
		tmpl string
	}{{&canary, cfg.Flagger.Canary}, {&baseline, cfg.Flagger.Baseline}} {
		if *f.sel == "" && f.tmpl != "" {
			sel, err := renderTemplate(f.tmpl, p.Name, p.Namespace)
			if err != nil {
				s.rejectText(w, hook, bad("name", err))
				return
			}
			*f.sel = sel.String()
		}
	}
	if hook == HookConfirmRollout {
		// The canary is not scaled up yet: the only evidence is the
		// baseline's own health (the absolute limits; the comparison with
		// itself is 1.0). A rollout does not start on a burning primary.
		canary = baseline
	}
	var override any
	if c := p.Metadata[MetaConfig]; c != "" {
		if err := yaml.Unmarshal([]byte(c), &override); err != nil {
			s.rejectText(w, hook, bad("metadata.config", fmt.Errorf("metadata.config: want YAML or JSON overrides: %s", clipText(err.Error()))))
			return
		}
	}
	req, b := s.flaggerRequest(hook, canary, baseline, override)
	if b != nil {
		s.rejectText(w, hook, b)
		return
	}
	// Never 5xx (nor 429): Flagger's client retries those and drops the
	// body. 424 Failed Dependency holds every hook and never signals a
	// rollback: a busy, stopping or blind gate answers it.
	if !s.acquire() {
		s.log.Warn("busy: too many evaluations in flight", "source", SourceFlagger, "hook", string(hook), "canary", target, "status", http.StatusFailedDependency)
		setRetryAfter(w)
		writeText(w, http.StatusFailedDependency, fmt.Sprintf("could not evaluate: busy: %d evaluations in flight; retry later", cap(s.slots)))
		return
	}
	res, err := s.gate.Evaluate(r.Context(), req)
	s.release()
	s.metrics.Observe(SourceFlagger, res, time.Since(start))
	if err != nil && r.Context().Err() != nil {
		s.log.Warn("evaluation canceled", "source", SourceFlagger, "hook", string(hook), "canary", target, "duration", time.Since(start))
		writeText(w, http.StatusFailedDependency, "could not evaluate: canceled: the gate is shutting down or the client left")
		return
	}
	if err != nil {
		s.log.Warn("could not evaluate", "source", SourceFlagger, "hook", string(hook), "canary", target, "err", logText(err), "duration", time.Since(start))
		writeText(w, http.StatusFailedDependency, "could not evaluate: could not query Prometheus; the gate's log says why")
		return
	}
	status, line := FlaggerStatus(hook, res)
	s.log.Info("evaluated", "source", SourceFlagger, "hook", string(hook), "canary", target, "verdict", res.Verdict.String(),
		"critical", res.Critical, "status", status, "duration", time.Since(start))
	writeText(w, status, line)
}

func (s *Server) flaggerRequest(hook Hook, canary, baseline string, override any) (Request, *badRequest) {
	var req Request
	var err error
	missing := func(key string) *badRequest {
		return bad("metadata."+key, fmt.Errorf("metadata.%s: required: set it in the webhook's metadata, or a flagger.%s template in the gate's config", key, key))
	}
	if baseline == "" {
		return req, missing(MetaBaseline)
	}
	if req.Baseline, err = ParseSelector(baseline); err != nil {
		return req, bad("metadata.baseline", fmt.Errorf("metadata.baseline: %w", err))
	}
	if hook == HookConfirmRollout {
		req.Canary = req.Baseline
	} else {
		if canary == "" {
			return req, missing(MetaCanary)
		}
		if req.Canary, err = ParseSelector(canary); err != nil {
			return req, bad("metadata.canary", fmt.Errorf("metadata.canary: %w", err))
		}
		if req.Canary.String() == req.Baseline.String() {
			return req, bad("metadata.baseline", errors.New("metadata.baseline: the same series as the canary: nothing to compare"))
		}
	}
	if override != nil {
		cfg, err := s.gate.Config().OverrideLimits("metadata.config", override)
		if err != nil {
			return req, bad("metadata.config", err)
		}
		req.Config = &cfg
	}
	return req, nil
}

func (s *Server) rejectText(w http.ResponseWriter, hook Hook, b *badRequest) {
	msg := b.message()
	s.log.Info("bad request", "source", SourceFlagger, "hook", string(hook), "field", clipName(b.field), "status", b.status, "err", msg)
	writeText(w, b.status, "bad request: "+msg)
}

// FlaggerStatus maps a verdict to the status and one-line body a Flagger
// hook answers. Flagger treats any status above 202 as "not passed".
func FlaggerStatus(hook Hook, r *Result) (int, string) {
	switch hook {
	case HookRollback:
		if r.Verdict == NoGo && r.Critical {
			return http.StatusOK, "rollback: " + r.Reason
		}
		return http.StatusConflict, "no rollback: " + r.Reason
	case HookConfirmRollout, HookConfirmTrafficIncrease, HookConfirmPromotion:
		if r.Verdict == Go {
			return http.StatusOK, r.Reason
		}
		return http.StatusLocked, "hold: " + r.Reason
	default: // pre-rollout, rollout
		if r.Verdict == Go {
			return http.StatusOK, r.Reason
		}
		return http.StatusPreconditionFailed, r.Reason
	}
}
