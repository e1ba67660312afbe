package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

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
	return "", fmt.Errorf("unknown Flagger hook %q: want one of %s", s, strings.Join(names, ", "))
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

// Server is the gate's HTTP API: Argo Rollouts' web metric provider,
// Flagger's webhooks, /healthz and /metrics.
type Server struct {
	gate    *Gate
	log     *slog.Logger
	metrics *Metrics
	mux     *http.ServeMux
}

// NewServer returns the HTTP API over g. A nil log discards; a nil reg
// exports no metrics (and /metrics answers 404).
func NewServer(g *Gate, log *slog.Logger, reg *prometheus.Registry) (*Server, error) {
	if g == nil {
		return nil, errors.New("gate: NewServer needs a Gate")
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
	s := &Server{gate: g, log: log, metrics: m, mux: http.NewServeMux()}
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

// Serve answers on ln until ctx ends, then shuts down gracefully: requests
// in flight get up to shutdownTimeout to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      MaxTimeout + 10*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gate: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && serr != nil {
		return fmt.Errorf("gate: serve: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("gate: shut down: %w", err)
	}
	return nil
}

// shutdownTimeout bounds the graceful shutdown: an evaluation in flight
// is bounded by Config.Timeout (at most MaxTimeout).
const shutdownTimeout = MaxTimeout + 5*time.Second

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
		return bad(typeErr.Field, fmt.Errorf("%s: want %s, got a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return bad(name, fmt.Errorf("%s: unknown field", name))
	}
	return bad("body", fmt.Errorf("body: not valid JSON: %v", err))
}

// EvaluateRequest is the body of POST /v1/evaluate.
type EvaluateRequest struct {
	// Canary and Baseline are PromQL label matchers. Required.
	Canary   string `json:"canary"`
	Baseline string `json:"baseline"`
	// Config overrides fields of the server's configuration (same names
	// as the configuration file).
	Config map[string]any `json:"config,omitempty"`
}

func (s *Server) evaluate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
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
	res, err := s.gate.Evaluate(r.Context(), req)
	s.metrics.Observe(SourceArgo, res, time.Since(start))
	if err != nil {
		s.log.Warn("could not evaluate", "source", SourceArgo, "canary", selText(req.Canary), "err", err, "duration", time.Since(start))
		writeJSON(w, http.StatusServiceUnavailable, apiError{
			Error: "could not query Prometheus; the gate's log says why", Code: "PROMETHEUS_UNAVAILABLE"})
		return
	}
	s.log.Info("evaluated", "source", SourceArgo, "canary", res.Canary, "verdict", res.Verdict.String(), "critical", res.Critical, "duration", time.Since(start))
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) rejectJSON(w http.ResponseWriter, source string, b *badRequest) {
	s.log.Info("bad request", "source", source, "field", b.field, "err", b.err)
	code := "BAD_REQUEST"
	if b.status == http.StatusRequestEntityTooLarge {
		code = "BODY_TOO_LARGE"
	} else if b.status == http.StatusUnsupportedMediaType {
		code = "UNSUPPORTED_MEDIA_TYPE"
	}
	writeJSON(w, b.status, apiError{Error: oneLine(strings.ReplaceAll(b.err.Error(), "\n", "; ")), Code: code, Field: b.field})
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
		cfg, err := s.gate.Config().OverrideAt(overrideField, override)
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
// name enters a selector template, so it cannot inject matchers.
var k8sName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

func (s *Server) flagger(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
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
			s.rejectText(w, hook, bad(f.field, fmt.Errorf("%s: %q: want a Kubernetes name (Flagger sends the canary's)", f.field, f.v)))
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
			s.rejectText(w, hook, bad("metadata.config", fmt.Errorf("metadata.config: want YAML or JSON overrides: %v", err)))
			return
		}
	}
	req, b := s.flaggerRequest(hook, canary, baseline, override)
	if b != nil {
		s.rejectText(w, hook, b)
		return
	}
	res, err := s.gate.Evaluate(r.Context(), req)
	s.metrics.Observe(SourceFlagger, res, time.Since(start))
	if err != nil {
		// Never 5xx: Flagger retries those and drops the body. 424 Failed
		// Dependency holds every hook and never signals a rollback.
		s.log.Warn("could not evaluate", "source", SourceFlagger, "hook", string(hook), "canary", target, "err", err, "duration", time.Since(start))
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
		cfg, err := s.gate.Config().OverrideAt("metadata.config", override)
		if err != nil {
			return req, bad("metadata.config", err)
		}
		req.Config = &cfg
	}
	return req, nil
}

func (s *Server) rejectText(w http.ResponseWriter, hook Hook, b *badRequest) {
	s.log.Info("bad request", "source", SourceFlagger, "hook", string(hook), "field", b.field, "err", b.err)
	writeText(w, b.status, "bad request: "+strings.ReplaceAll(b.err.Error(), "\n", "; "))
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
