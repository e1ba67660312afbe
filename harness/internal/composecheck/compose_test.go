package composecheck

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/flagstorm/flagstorm/harness/internal/cli"
)

// What the code and the README rely on.
const (
	projectName     = "flagstorm"
	loadtestProfile = "loadtest"
	// oneShot runs to completion (the harness): no health check, only under
	// the loadtest profile.
	oneShot = "flagstorm"
	// toxiproxyAPIPort is where toxiproxy-server serves its API (-port).
	toxiproxyAPIPort = "8474"
)

var wantServices = []string{"redis-primary", "redis-replica", "postgres", "toxiproxy", "flagserver", "flagstorm", "prometheus", "grafana"}

// wantImages are exact image references; the Toxiproxy image must be the
// version of the module the harness embeds, so both behave the same.
func wantImages(s *stack) map[string]string {
	return map[string]string{
		"redis-primary": "redis:7.2-alpine",
		"redis-replica": "redis:7.2-alpine",
		"postgres":      "postgres:16-alpine",
		"toxiproxy":     "ghcr.io/shopify/toxiproxy:" + s.toxiproxyVersion,
	}
}

// wantRepos are services whose image repository is fixed and whose tag must be pinned.
var wantRepos = map[string]string{"prometheus": "prom/prometheus", "grafana": "grafana/grafana"}

// wantBuilds are the services built from harness/Dockerfile: the stage
// each builds and the package that stage must compile.
var wantBuilds = map[string]struct{ stage, pkg string }{
	"flagserver": {"flagserver", "./target/cmd/flagserver"},
	"flagstorm":  {"flagstorm", "./harness/cmd/flagstorm"},
}

// wantProxies are the proxies of toxics/toxiproxy.json and their upstreams
// (compose service:port). The names are fixed: the harness looks them up.
var wantProxies = map[string]string{
	"redis":         "redis-primary:6379",
	"redis-replica": "redis-replica:6379",
	"postgres":      "postgres:5432",
}

// viaProxy maps flagserver's backend variables to the proxy they must use.
var viaProxy = map[string]string{"REDIS_URL": "redis", "DATABASE_URL": "postgres"}

// wantIgnored must be in .dockerignore: build output, history, local data and secrets.
var wantIgnored = []string{".git", "bin", "out", "*.db", ".env"}

// required start-order edges: service -> dependencies.
var wantDependsOn = map[string][]string{
	"redis-replica": {"redis-primary"},
	"toxiproxy":     {"redis-primary", "redis-replica", "postgres"},
	"flagserver":    {"toxiproxy"},
	"flagstorm":     {"flagserver"},
	"grafana":       {"prometheus"},
}

type check struct {
	name string
	run  func(s *stack) []string
}

var checks = []check{
	{"services", checkServices},
	{"images", checkImages},
	{"healthchecks", checkHealthchecks},
	{"ports", checkPorts},
	{"networks", checkNetworks},
	{"depends_on", checkDependsOn},
	{"toxiproxy", checkToxiproxy},
	{"flagserver", checkFlagserver},
	{"flagstorm", checkFlagstorm},
	{"redis", checkRedis},
	{"mounts", checkMounts},
	{"dockerfile", checkDockerfile},
	{"dockerignore", checkDockerignore},
	{"prometheus", checkPrometheus},
	{"grafana", checkGrafana},
}

// TestTopology checks the repository's compose topology.
func TestTopology(t *testing.T) {
	s, err := loadStack(t.Context(), repoRoot(t), nil)
	if err != nil {
		t.Fatalf("load the compose topology: %v", err)
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range c.run(s) {
				t.Error(p)
			}
		})
	}
}

// TestInterpolation loads the topology with some of the knobs the compose
// file documents set, and checks that the values land where they should and that
// the stack stays consistent (the password is spliced into two URLs).
func TestInterpolation(t *testing.T) {
	env := []string{
		"CACHE_PROFILE=seed",
		"ADMIN_TOKEN=t0ken",
		"POSTGRES_PASSWORD=s3cret",
		"FLAGSERVER_HOST_PORT=18080",
		"GRAFANA_HOST_PORT=13000",
	}
	s, err := loadStack(t.Context(), repoRoot(t), env)
	if err != nil {
		t.Fatalf("load the compose topology with %v: %v", env, err)
	}
	for _, c := range checks {
		for _, p := range c.run(s) {
			t.Errorf("with %v: %s", env, p)
		}
	}
	fs := service(t, s, "flagserver")
	if got := envOf(fs, "CACHE_PROFILE"); got != "seed" {
		t.Errorf("CACHE_PROFILE=seed: services.flagserver.environment.CACHE_PROFILE = %q", got)
	}
	if u, err := url.Parse(envOf(fs, "DATABASE_URL")); err != nil || u.User.String() != "postgres:s3cret" {
		t.Errorf("POSTGRES_PASSWORD=s3cret: services.flagserver.environment.DATABASE_URL = %q", envOf(fs, "DATABASE_URL"))
	}
	for svc, want := range map[string]string{"flagserver": "18080", "grafana": "13000"} {
		if ports := service(t, s, svc).Ports; len(ports) != 1 || ports[0].Published != want {
			t.Errorf("%s_HOST_PORT=%s: services.%s.ports = %+v", strings.ToUpper(svc), want, svc, ports)
		}
	}
}

// TestBrokenCopiesAreCaught edits a copy of the topology in one way each and
// expects the checks to name the mistake: they must be able to fail.
func TestBrokenCopiesAreCaught(t *testing.T) {
	root := repoRoot(t)
	t.Run("unedited copy passes", func(t *testing.T) {
		for _, p := range problems(t, copyTopology(t, root)) {
			t.Error(p)
		}
	})
	tests := []struct {
		name      string
		file      string
		old, new  string
		wantParts []string // all must appear in one reported problem
	}{
		{"port on every interface", composeFile,
			`"127.0.0.1:${FLAGSERVER_HOST_PORT:-8080}:8080"`, `"0.0.0.0:${FLAGSERVER_HOST_PORT:-8080}:8080"`,
			[]string{"services.flagserver.ports[0]", `"0.0.0.0"`, "127.0.0.1"}},
		{"port without a host IP", composeFile,
			`"127.0.0.1:${GRAFANA_HOST_PORT:-3000}:3000"`, `"${GRAFANA_HOST_PORT:-3000}:3000"`,
			[]string{"services.grafana.ports[0]", "every interface"}},
		{"redis reached directly", composeFile,
			`REDIS_URL: redis://toxiproxy:6380/0`, `REDIS_URL: redis://redis-primary:6379/0`,
			[]string{"services.flagserver.environment.REDIS_URL", `"redis" proxy`, "toxiproxy:6380"}},
		{"database through the wrong proxy port", composeFile,
			`@toxiproxy:5433/flags`, `@toxiproxy:6381/flags`,
			[]string{"services.flagserver.environment.DATABASE_URL", "toxiproxy:5433"}},
		{"health check disabled", composeFile,
			`test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres", "-d", "flags"]`, `disable: true`,
			[]string{"services.postgres", "no healthcheck"}},
		{"dependency only started", composeFile,
			"      toxiproxy:\n        condition: service_healthy", "      toxiproxy:\n        condition: service_started",
			[]string{"services.flagserver.depends_on.toxiproxy", "service_started", "service_healthy"}},
		{"an environment variable no flag reads", composeFile,
			`FLAGSTORM_METRICS_ADDR: ":9464"`, `FLAGSTORM_METRICS_ADDRESS: ":9464"`,
			[]string{"services.flagstorm.environment.FLAGSTORM_METRICS_ADDRESS", `"flagstorm run"`, "ignored"}},
		{"harness outside its profile", composeFile,
			`profiles: ["loadtest"]`, `profiles: []`,
			[]string{"services.flagstorm", "loadtest"}},
		{"another toxiproxy version", composeFile,
			`ghcr.io/shopify/toxiproxy:2.12.0`, `ghcr.io/shopify/toxiproxy:2.9.0`,
			[]string{"services.toxiproxy.image", "2.12.0"}},
		{"config mount misspelt", composeFile,
			`./toxics/toxiproxy.json:/config/toxiproxy.json:ro`, `./toxics/toxiproxy.jsn:/config/toxiproxy.json:ro`,
			[]string{"services.toxiproxy.volumes[0]", "does not exist"}},
		{"unset required variable", composeFile,
			`${CACHE_PROFILE:-hardened}`, `${CACHE_PROFILE:?set CACHE_PROFILE}`,
			[]string{composeFile, "CACHE_PROFILE"}},
		{"proxy upstream misspelt", toxiproxyConfig,
			`"redis-primary:6379"`, `"redis-master:6379"`,
			[]string{toxiproxyConfig, `proxy "redis"`, "redis-master:6379", "redis-primary:6379"}},
		{"proxy listens on loopback", toxiproxyConfig,
			`"0.0.0.0:5433"`, `"127.0.0.1:5433"`,
			[]string{toxiproxyConfig, `proxy "postgres"`, "127.0.0.1"}},
		{"proxy renamed", toxiproxyConfig,
			`"name": "redis-replica"`, `"name": "replica"`,
			[]string{toxiproxyConfig, `"redis-replica"`, "missing"}},
		{"unknown proxy field", toxiproxyConfig,
			`"upstream": "postgres:5432"`, `"upstrem": "postgres:5432"`,
			[]string{toxiproxyConfig, "upstrem"}},
		{"no flagstorm stage", dockerfilePath,
			"AS flagstorm\n", "AS loadgen\n",
			[]string{dockerfilePath, `"flagstorm"`}},
		{"stage builds the wrong package", dockerfilePath,
			"-o /out/flagserver ./target/cmd/flagserver", "-o /out/flagserver ./target/cmd/flagsrv",
			[]string{dockerfilePath, `"flagserver"`, "./target/cmd/flagserver"}},
		{"runtime image without wget", dockerfilePath,
			"FROM alpine:${ALPINE_VERSION} AS runtime", "FROM gcr.io/distroless/static-debian12 AS runtime",
			[]string{dockerfilePath, "wget", "flagserver"}},
		{"runs as root", dockerfilePath,
			"USER 10001:10001\nWORKDIR /var/lib/flagserver", "WORKDIR /var/lib/flagserver",
			[]string{dockerfilePath, `"flagserver"`, "root"}},
		{"prometheus scrapes the wrong port", prometheusConfig,
			`"flagserver:8080"`, `"flagserver:9090"`,
			[]string{prometheusConfig, "flagserver:8080"}},
		{"prometheus config is not YAML", prometheusConfig,
			"scrape_configs:\n", "scrape_configs: [\n",
			[]string{prometheusConfig}},
		{"datasource points elsewhere", grafanaProvisioning + "/datasources/prometheus.yml",
			"url: http://prometheus:9090", "url: http://localhost:9090",
			[]string{"datasource", "http://prometheus:9090"}},
		{"secrets sent to the build", dockerignore,
			".env\n", "",
			[]string{dockerignore, ".env"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyTopology(t, root)
			edit(t, filepath.Join(dir, tt.file), tt.old, tt.new)
			got := problems(t, dir)
			for _, p := range got {
				if containsAll(p, tt.wantParts) {
					t.Logf("caught: %s", p)
					return
				}
			}
			t.Errorf("edit of %s (%q -> %q) not caught: want a problem mentioning %q; got %d:\n%s",
				tt.file, tt.old, tt.new, tt.wantParts, len(got), strings.Join(got, "\n"))
		})
	}
}

// problems loads the topology under root and runs every check; a load
// error is reported as the only problem.
func problems(t *testing.T, root string) []string {
	t.Helper()
	s, err := loadStack(t.Context(), root, nil)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, c := range checks {
		out = append(out, c.run(s)...)
	}
	return out
}

func checkServices(s *stack) []string {
	var out []string
	if s.defaults.Name != projectName {
		out = append(out, fmt.Sprintf("%s: the project is named %q, want top-level `name: %s` (else docker compose names it after the checkout's directory)", composeFile, s.defaults.Name, projectName))
	}
	for _, name := range wantServices {
		svc, ok := s.project.Services[name]
		if !ok {
			out = append(out, fmt.Sprintf("%s: services.%s is missing", composeFile, name))
			continue
		}
		_, inDefault := s.defaults.Services[name]
		switch {
		case name == oneShot && (inDefault || !slices.Contains(svc.Profiles, loadtestProfile)):
			out = append(out, fmt.Sprintf("%s: services.%s has profiles %q, want [%q]: a plain `docker compose up` must not build or start the harness", composeFile, name, svc.Profiles, loadtestProfile))
		case name != oneShot && !inDefault:
			out = append(out, fmt.Sprintf("%s: services.%s has profiles %q, want none: `docker compose up` must start it", composeFile, name, svc.Profiles))
		}
	}
	return out
}

func checkImages(s *stack) []string {
	var out []string
	images := wantImages(s)
	for _, name := range slices.Sorted(maps.Keys(images)) {
		want := images[name]
		if svc, ok := s.project.Services[name]; ok && svc.Image != want {
			out = append(out, fmt.Sprintf("%s: services.%s.image is %q, want %q", composeFile, name, svc.Image, want))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(wantRepos)) {
		repo := wantRepos[name]
		if svc, ok := s.project.Services[name]; ok && !strings.HasPrefix(svc.Image, repo+":") {
			out = append(out, fmt.Sprintf("%s: services.%s.image is %q, want %s:<pinned tag>", composeFile, name, svc.Image, repo))
		}
	}
	for _, name := range sortedNames(s.project) {
		svc := s.project.Services[name]
		if svc.Build != nil {
			continue
		}
		ref := svc.Image[strings.LastIndex(svc.Image, "/")+1:]
		if _, tag, ok := strings.Cut(ref, ":"); !ok || tag == "latest" {
			out = append(out, fmt.Sprintf("%s: services.%s.image %q has no pinned tag", composeFile, name, svc.Image))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(wantBuilds)) {
		want := wantBuilds[name]
		svc, ok := s.project.Services[name]
		if !ok {
			continue
		}
		if svc.Build == nil {
			out = append(out, fmt.Sprintf("%s: services.%s has no build section, want {context: ., dockerfile: %s, target: %s}", composeFile, name, dockerfilePath, want.stage))
			continue
		}
		if svc.Build.Context != s.root {
			out = append(out, fmt.Sprintf("%s: services.%s.build.context is %q, want the repository root (.)", composeFile, name, svc.Build.Context))
		}
		df := svc.Build.Dockerfile
		if filepath.IsAbs(df) {
			df, _ = filepath.Rel(svc.Build.Context, df)
		}
		if filepath.ToSlash(df) != dockerfilePath {
			out = append(out, fmt.Sprintf("%s: services.%s.build.dockerfile is %q, want %s", composeFile, name, svc.Build.Dockerfile, dockerfilePath))
		}
		if svc.Build.Target != want.stage {
			out = append(out, fmt.Sprintf("%s: services.%s.build.target is %q, want %q", composeFile, name, svc.Build.Target, want.stage))
		}
	}
	return out
}

func checkHealthchecks(s *stack) []string {
	var out []string
	for _, name := range sortedNames(s.project) {
		if name == oneShot {
			continue
		}
		hc := s.project.Services[name].HealthCheck
		switch {
		case hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE":
			out = append(out, fmt.Sprintf("%s: services.%s has no healthcheck; depends_on service_healthy and `up --wait` need one", composeFile, name))
		case hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL":
			out = append(out, fmt.Sprintf("%s: services.%s.healthcheck.test starts with %q, want CMD or CMD-SHELL", composeFile, name, hc.Test[0]))
		}
	}
	return out
}

func checkPorts(s *stack) []string {
	var out []string
	for _, name := range sortedNames(s.project) {
		svc := s.project.Services[name]
		if svc.NetworkMode == "host" {
			out = append(out, fmt.Sprintf("%s: services.%s uses network_mode host: every port would listen beyond loopback", composeFile, name))
		}
		for i, p := range svc.Ports {
			if p.HostIP == "127.0.0.1" {
				continue
			}
			ip := fmt.Sprintf("%q", p.HostIP)
			if p.HostIP == "" {
				ip = "every interface"
			}
			out = append(out, fmt.Sprintf("%s: services.%s.ports[%d] publishes %s->%d on %s; bind 127.0.0.1 only: \"127.0.0.1:%s:%d\"", composeFile, name, i, p.Published, p.Target, ip, p.Published, p.Target))
		}
	}
	return out
}

func checkNetworks(s *stack) []string {
	if len(s.project.Networks) != 1 {
		return []string{fmt.Sprintf("%s: %d networks (%v), want exactly one shared by every service", composeFile, len(s.project.Networks), s.project.NetworkNames())}
	}
	var out []string
	for net := range s.project.Networks {
		for _, name := range sortedNames(s.project) {
			nets := s.project.Services[name].Networks
			if _, ok := nets[net]; !ok || len(nets) != 1 {
				out = append(out, fmt.Sprintf("%s: services.%s.networks is %v, want only [%s]", composeFile, name, keys(nets), net))
			}
		}
	}
	return out
}

func checkDependsOn(s *stack) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(wantDependsOn)) {
		deps := wantDependsOn[name]
		svc, ok := s.project.Services[name]
		if !ok {
			continue
		}
		for _, dep := range deps {
			if _, ok := svc.DependsOn[dep]; !ok {
				out = append(out, fmt.Sprintf("%s: services.%s.depends_on lacks %s (condition: service_healthy)", composeFile, name, dep))
			}
		}
	}
	for _, name := range sortedNames(s.project) {
		deps := s.project.Services[name].DependsOn
		for _, dep := range slices.Sorted(maps.Keys(deps)) {
			d := deps[dep]
			want := types.ServiceConditionHealthy
			if dep == oneShot {
				want = types.ServiceConditionCompletedSuccessfully
			}
			if d.Condition != want {
				out = append(out, fmt.Sprintf("%s: services.%s.depends_on.%s has condition %s, want %s: it must wait until %s works, not until it starts", composeFile, name, dep, d.Condition, want, dep))
			}
		}
	}
	return out
}

func checkToxiproxy(s *stack) []string {
	var out []string
	seen := map[string]bool{}
	ports := map[string]string{}
	for _, p := range s.proxies {
		where := fmt.Sprintf("%s: proxy %q", toxiproxyConfig, p.Name)
		want, known := wantProxies[p.Name]
		switch {
		case !known:
			out = append(out, fmt.Sprintf("%s is unexpected; want exactly %v", where, slices.Sorted(maps.Keys(wantProxies))))
		case seen[p.Name]:
			out = append(out, fmt.Sprintf("%s appears twice", where))
		case p.Upstream != want:
			out = append(out, fmt.Sprintf("%s has upstream %q, want %q", where, p.Upstream, want))
		}
		seen[p.Name] = true
		if host, _, err := net.SplitHostPort(p.Upstream); err == nil {
			if _, ok := s.project.Services[host]; !ok {
				out = append(out, fmt.Sprintf("%s: upstream host %q is not a service of %s", where, host, composeFile))
			}
		}
		if p.Enabled != nil && !*p.Enabled {
			out = append(out, fmt.Sprintf("%s starts disabled; faults are applied at run time, not in the config", where))
		}
		host, port, err := net.SplitHostPort(p.Listen)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("%s: listen %q is not host:port: %v", where, p.Listen, err))
		case host != "0.0.0.0" && host != "" && host != "::":
			out = append(out, fmt.Sprintf("%s listens on %q: flagserver, in another container, cannot reach it; listen on 0.0.0.0:%s", where, p.Listen, port))
		case port == toxiproxyAPIPort:
			out = append(out, fmt.Sprintf("%s listens on %s, the Toxiproxy API port", where, port))
		case ports[port] != "":
			out = append(out, fmt.Sprintf("%s listens on port %s like proxy %q", where, port, ports[port]))
		default:
			ports[port] = p.Name
		}
	}
	for _, name := range slices.Sorted(maps.Keys(wantProxies)) {
		if !seen[name] {
			out = append(out, fmt.Sprintf("%s: proxy %q is missing (upstream %s); the harness looks it up by that name", toxiproxyConfig, name, wantProxies[name]))
		}
	}

	svc, ok := s.project.Services["toxiproxy"]
	if !ok {
		return out
	}
	if host, _ := flagValue(svc.Command, "host"); host != "0.0.0.0" {
		out = append(out, fmt.Sprintf("%s: services.toxiproxy.command %q: want -host 0.0.0.0 (the API must be reachable from other containers)", composeFile, svc.Command))
	}
	cfg, ok := flagValue(svc.Command, "config")
	if !ok {
		return append(out, fmt.Sprintf("%s: services.toxiproxy.command %q has no -config: no proxy would exist", composeFile, svc.Command))
	}
	if src, ok := hostPath(svc, cfg); !ok || src != filepath.Join(s.root, toxiproxyConfig) {
		out = append(out, fmt.Sprintf("%s: services.toxiproxy reads -config %s, which is not %s mounted from the repository (got %q)", composeFile, cfg, toxiproxyConfig, src))
	}
	return out
}

func checkFlagserver(s *stack) []string {
	svc, ok := s.project.Services["flagserver"]
	if !ok {
		return nil
	}
	var out []string
	where := composeFile + ": services.flagserver.environment."
	port := listenPort(svc)
	if port == "" {
		out = append(out, fmt.Sprintf("%sLISTEN_ADDR is %q, want \":8080\" (every interface, in a container)", where, envOf(svc, "LISTEN_ADDR")))
	} else {
		if !slices.ContainsFunc(svc.Ports, func(p types.ServicePortConfig) bool { return strconv.Itoa(int(p.Target)) == port }) {
			out = append(out, fmt.Sprintf("%s: services.flagserver.ports %+v do not publish LISTEN_ADDR's port %s", composeFile, svc.Ports, port))
		}
		if hc := svc.HealthCheck; hc != nil && !strings.Contains(strings.Join(hc.Test, " "), ":"+port+"/readyz") {
			out = append(out, fmt.Sprintf("%s: services.flagserver.healthcheck %q does not probe /readyz on port %s", composeFile, hc.Test, port))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(viaProxy)) {
		name := viaProxy[key]
		raw := envOf(svc, key)
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			out = append(out, fmt.Sprintf("%s%s = %q is not a URL", where, key, raw))
			continue
		}
		want := "toxiproxy:?"
		for _, p := range s.proxies {
			if p.Name == name {
				_, lp, _ := net.SplitHostPort(p.Listen)
				want = "toxiproxy:" + lp
			}
		}
		if u.Host != want {
			out = append(out, fmt.Sprintf("%s%s = %q reaches %s; it must go through Toxiproxy's %q proxy at %s (%s), or faults cannot touch it", where, key, raw, u.Host, name, want, toxiproxyConfig))
		}
	}
	if u, err := url.Parse(envOf(svc, "REDIS_URL")); err == nil && u.Scheme != "redis" {
		out = append(out, fmt.Sprintf("%sREDIS_URL scheme is %q, want redis", where, u.Scheme))
	}
	if pg, ok := s.project.Services["postgres"]; ok {
		if u, err := url.Parse(envOf(svc, "DATABASE_URL")); err == nil {
			pass, _ := u.User.Password()
			switch {
			case u.Scheme != "postgres" && u.Scheme != "postgresql":
				out = append(out, fmt.Sprintf("%sDATABASE_URL scheme is %q, want postgres", where, u.Scheme))
			case u.Path != "/"+envOf(pg, "POSTGRES_DB"):
				out = append(out, fmt.Sprintf("%sDATABASE_URL names database %q, but services.postgres creates POSTGRES_DB=%q", where, strings.TrimPrefix(u.Path, "/"), envOf(pg, "POSTGRES_DB")))
			case u.User.Username() != or(envOf(pg, "POSTGRES_USER"), "postgres"):
				out = append(out, fmt.Sprintf("%sDATABASE_URL user is %q, but services.postgres has POSTGRES_USER=%q", where, u.User.Username(), envOf(pg, "POSTGRES_USER")))
			case pass != envOf(pg, "POSTGRES_PASSWORD") && envOf(pg, "POSTGRES_HOST_AUTH_METHOD") != "trust":
				out = append(out, fmt.Sprintf("%sDATABASE_URL password differs from services.postgres POSTGRES_PASSWORD", where))
			}
		}
	}
	if p := envOf(svc, "CACHE_PROFILE"); p != "hardened" && p != "seed" {
		out = append(out, fmt.Sprintf("%sCACHE_PROFILE is %q, want hardened or seed", where, p))
	}
	if envOf(svc, "ADMIN_TOKEN") == "" {
		out = append(out, fmt.Sprintf("%sADMIN_TOKEN is empty: every PATCH of a scenario would be refused", where))
	}
	return out
}

func checkFlagstorm(s *stack) []string {
	svc, ok := s.project.Services[oneShot]
	fs, ok2 := s.project.Services["flagserver"]
	if !ok || !ok2 {
		return nil
	}
	var out []string
	where := composeFile + ": services.flagstorm"
	if got, want := flagValueOr(svc.Command, "target-url"), "http://flagserver:"+listenPort(fs); got != want {
		out = append(out, fmt.Sprintf("%s.command %q: --target-url is %q, want %q (flagserver's LISTEN_ADDR port)", where, svc.Command, got, want))
	}
	for _, key := range slices.Sorted(maps.Keys(svc.Environment)) {
		raw := envOf(svc, key)
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() != "toxiproxy" || u.Port() == toxiproxyAPIPort {
			continue
		}
		out = append(out, fmt.Sprintf("%s.environment.%s = %q goes through a Toxiproxy proxy; the harness must read the backends directly, so its checks are not faulted", where, key, raw))
	}
	out = append(out, deadFlagstormEnv(svc, where)...)
	if got, want := envOf(svc, "FLAGSTORM_ADMIN_TOKEN"), envOf(fs, "ADMIN_TOKEN"); got != want {
		out = append(out, fmt.Sprintf("%s.environment.FLAGSTORM_ADMIN_TOKEN differs from services.flagserver ADMIN_TOKEN: the harness's PATCHes would be refused", where))
	}
	if src, ok := hostPath(svc, "/scenarios"); !ok || src != filepath.Join(s.root, "scenarios") {
		out = append(out, fmt.Sprintf("%s.volumes: ./scenarios is not mounted at /scenarios", where))
	}
	return out
}

// deadFlagstormEnv reports the service's FLAGSTORM_* variables that name
// no flag of the subcommand its command runs: flagstorm would ignore
// them without a word.
func deadFlagstormEnv(svc types.ServiceConfig, where string) []string {
	if len(svc.Command) == 0 {
		return []string{where + ".command is empty: want a flagstorm subcommand"}
	}
	sub := svc.Command[0]
	names, err := cli.FlagNames(sub)
	if err != nil {
		return []string{fmt.Sprintf("%s.command %q: %v", where, svc.Command, err)}
	}
	var out []string
	for _, key := range slices.Sorted(maps.Keys(svc.Environment)) {
		if !strings.HasPrefix(key, "FLAGSTORM_") {
			continue
		}
		if !slices.ContainsFunc(names, func(n string) bool { return cli.EnvName(n) == key }) {
			out = append(out, fmt.Sprintf("%s.environment.%s names no flag of \"flagstorm %s\": it would be ignored", where, key, sub))
		}
	}
	return out
}

func checkRedis(s *stack) []string {
	var out []string
	for _, name := range []string{"redis-primary", "redis-replica"} {
		svc, ok := s.project.Services[name]
		if !ok {
			continue
		}
		if v, ok := flagValue(svc.Command, "save"); !ok || v != "" {
			out = append(out, fmt.Sprintf("%s: services.%s.command %q: want --save '' (a cache: no snapshots)", composeFile, name, svc.Command))
		}
		if v, _ := flagValue(svc.Command, "appendonly"); v != "no" {
			out = append(out, fmt.Sprintf("%s: services.%s.command %q: want --appendonly no", composeFile, name, svc.Command))
		}
	}
	if svc, ok := s.project.Services["redis-replica"]; ok {
		i := slices.Index(svc.Command, "--replicaof")
		if i < 0 || i+2 >= len(svc.Command) || svc.Command[i+1] != "redis-primary" || svc.Command[i+2] != "6379" {
			out = append(out, fmt.Sprintf("%s: services.redis-replica.command %q: want --replicaof redis-primary 6379", composeFile, svc.Command))
		}
	}
	return out
}

func checkMounts(s *stack) []string {
	var out []string
	for _, name := range sortedNames(s.project) {
		_, inDefault := s.defaults.Services[name]
		for i, v := range s.project.Services[name].Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			where := fmt.Sprintf("%s: services.%s.volumes[%d] (%s -> %s)", composeFile, name, i, v.Source, v.Target)
			if rel, err := filepath.Rel(s.root, v.Source); err != nil || !filepath.IsLocal(rel) {
				out = append(out, where+" mounts a path outside the repository")
				continue
			}
			// What a plain "docker compose up" mounts must exist: Docker
			// would create a missing source as an empty directory.
			if _, err := os.Stat(v.Source); inDefault && err != nil {
				out = append(out, fmt.Sprintf("%s: %s does not exist", where, v.Source))
			}
			if inDefault && !v.ReadOnly {
				out = append(out, where+" is writable; mount configuration read-only (:ro)")
			}
		}
	}
	return out
}

func checkDockerfile(s *stack) []string {
	var out []string
	byName := map[string]int{}
	for i, st := range s.stages {
		if st.name == "" {
			continue
		}
		if j, dup := byName[st.name]; dup {
			out = append(out, fmt.Sprintf("%s:%d: stage %q already defined at line %d", dockerfilePath, st.line, st.name, s.stages[j].line))
		}
		byName[st.name] = i
	}
	for _, name := range slices.Sorted(maps.Keys(wantBuilds)) {
		want := wantBuilds[name]
		i, ok := byName[want.stage]
		if !ok {
			out = append(out, fmt.Sprintf("%s: no stage named %q (FROM ... AS %s); services.%s.build.target needs it", dockerfilePath, want.stage, want.stage, name))
			continue
		}
		final := s.stages[i]
		where := fmt.Sprintf("%s:%d: stage %q", dockerfilePath, final.line, want.stage)
		deps := closure(s.stages, byName, i)
		builds, trimpath, cgo := false, false, false
		for _, j := range deps {
			for _, in := range s.stages[j].instrs {
				cgo = cgo || (in.cmd == "ENV" && strings.Contains(in.args, "CGO_ENABLED=0"))
				if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
					continue
				}
				f := strings.Fields(in.args)
				if slices.Contains(f, want.pkg) {
					builds = true
					trimpath = slices.Contains(f, "-trimpath")
					cgo = cgo || strings.Contains(in.args, "CGO_ENABLED=0")
				}
				for other, ob := range wantBuilds {
					if other != name && slices.Contains(f, ob.pkg) {
						out = append(out, fmt.Sprintf("%s also compiles %s (line %d): building %s would need %s's package", where, ob.pkg, in.line, name, other))
					}
				}
			}
		}
		switch {
		case !builds:
			out = append(out, fmt.Sprintf("%s: none of its stages runs `go build ... %s`", where, want.pkg))
		case !trimpath:
			out = append(out, fmt.Sprintf("%s: `go build` of %s lacks -trimpath", where, want.pkg))
		case !cgo:
			out = append(out, fmt.Sprintf("%s: %s is not built with CGO_ENABLED=0 (static)", where, want.pkg))
		}
		if user := lastArgs(final, "USER"); user == "" || user == "root" || user == "0" || strings.HasPrefix(user, "0:") || strings.HasPrefix(user, "root:") {
			out = append(out, fmt.Sprintf("%s runs as root (USER %q); add a non-root USER", where, user))
		}
		if ep := lastArgs(final, "ENTRYPOINT"); !strings.Contains(ep, path.Base(want.pkg)) {
			out = append(out, fmt.Sprintf("%s: ENTRYPOINT %q does not run %s", where, ep, path.Base(want.pkg)))
		}
		if lastArgs(final, "EXPOSE") == "" {
			out = append(out, fmt.Sprintf("%s has no EXPOSE", where))
		}
		// The compose health check runs a tool inside the image: the image must have it.
		if svc, ok := s.project.Services[name]; ok && svc.HealthCheck != nil && len(svc.HealthCheck.Test) > 1 {
			tool := strings.Fields(svc.HealthCheck.Test[1])[0]
			if base := rootImage(s.stages, byName, i); tool == "wget" && !strings.HasPrefix(base, "alpine:") && !strings.HasPrefix(base, "busybox:") {
				out = append(out, fmt.Sprintf("%s: services.%s.healthcheck runs wget, but the stage's image comes from %q, which has none; use alpine", where, name, base))
			}
		}
		if problem := moduleLayer(s.stages, byName, i); problem != "" {
			out = append(out, fmt.Sprintf("%s: %s", where, problem))
		}
	}
	return out
}

func checkDockerignore(s *stack) []string {
	var out []string
	for _, want := range wantIgnored {
		if !slices.ContainsFunc(s.ignored, func(p string) bool { return strings.Trim(p, "/") == want }) {
			out = append(out, fmt.Sprintf("%s: %q is not excluded from the build context", dockerignore, want))
		}
	}
	return out
}

func checkPrometheus(s *stack) []string {
	var out []string
	if got := s.prometheus.Global.ScrapeInterval; got != "5s" {
		out = append(out, fmt.Sprintf("%s: global.scrape_interval is %q, want 5s", prometheusConfig, got))
	}
	svc, ok := s.project.Services["prometheus"]
	if !ok {
		return out
	}
	cfg := or(flagValueOr(svc.Command, "config.file"), "/etc/prometheus/prometheus.yml")
	if src, ok := hostPath(svc, cfg); !ok || src != filepath.Join(s.root, prometheusConfig) {
		out = append(out, fmt.Sprintf("%s: services.prometheus reads --config.file=%s, which is not %s mounted from the repository (got %q)", composeFile, cfg, prometheusConfig, src))
	}
	if !slices.ContainsFunc(s.prometheus.RuleFiles, func(r string) bool {
		src, ok := hostPath(svc, r)
		return ok && src == filepath.Join(s.root, prometheusRules)
	}) {
		out = append(out, fmt.Sprintf("%s: rule_files %q: none is %s as mounted into services.prometheus", prometheusConfig, s.prometheus.RuleFiles, prometheusRules))
	}
	targets := map[string]scrapeConfig{}
	for _, sc := range s.prometheus.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				targets[tg] = sc
				host, _, err := net.SplitHostPort(tg)
				if _, isService := s.project.Services[host]; err != nil || !isService && host != "localhost" {
					out = append(out, fmt.Sprintf("%s: job %q scrapes %q, which is not a service of %s", prometheusConfig, sc.JobName, tg, composeFile))
				}
			}
		}
	}
	want := []string{"localhost:9090"}
	if fs, ok := s.project.Services["flagserver"]; ok {
		want = append(want, "flagserver:"+listenPort(fs))
	}
	if h, ok := s.project.Services[oneShot]; ok {
		_, port, _ := net.SplitHostPort(envOf(h, "FLAGSTORM_METRICS_ADDR"))
		want = append(want, "flagstorm:"+port)
	}
	for _, tg := range want {
		sc, ok := targets[tg]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: no job scrapes %s", prometheusConfig, tg))
		case sc.MetricsPath != "" && sc.MetricsPath != "/metrics":
			out = append(out, fmt.Sprintf("%s: job %q scrapes %s at %s, want /metrics", prometheusConfig, sc.JobName, tg, sc.MetricsPath))
		}
	}
	return out
}

func checkGrafana(s *stack) []string {
	svc, ok := s.project.Services["grafana"]
	if !ok {
		return nil
	}
	var out []string
	if src, ok := hostPath(svc, "/etc/grafana/provisioning"); !ok || src != filepath.Join(s.root, grafanaProvisioning) {
		out = append(out, fmt.Sprintf("%s: services.grafana does not mount %s at /etc/grafana/provisioning (got %q)", composeFile, grafanaProvisioning, src))
	}
	wantURL := "http://prometheus:9090"
	if !slices.ContainsFunc(s.datasources, func(d datasource) bool {
		return d.Type == "prometheus" && strings.TrimSuffix(d.URL, "/") == wantURL && d.UID != ""
	}) {
		var got []string
		for _, d := range s.datasources {
			got = append(got, fmt.Sprintf("%s: %q type %q uid %q url %q", d.file, d.Name, d.Type, d.UID, d.URL))
		}
		out = append(out, fmt.Sprintf("%s/datasources: no prometheus datasource with a uid at %s; got %q", grafanaProvisioning, wantURL, got))
	}
	if len(s.providers) == 0 {
		out = append(out, fmt.Sprintf("%s/dashboards: no dashboard provider", grafanaProvisioning))
	}
	for _, p := range s.providers {
		src, ok := hostPath(svc, p.Options.Path)
		if fi, err := os.Stat(src); p.Type != "file" || !ok || err != nil || !fi.IsDir() {
			out = append(out, fmt.Sprintf("%s: provider %q (type %q) reads %q, which is not a dashboards directory mounted from the repository", p.file, p.Name, p.Type, p.Options.Path))
		}
	}
	return out
}

// closure returns stage i and every stage it builds on (FROM) or copies
// from (COPY --from), base first.
func closure(stages []stage, byName map[string]int, i int) []int {
	var out []int
	var visit func(int)
	visit = func(i int) {
		if slices.Contains(out, i) {
			return
		}
		if j, ok := byName[stages[i].base]; ok && j < i {
			visit(j)
		}
		for _, in := range stages[i].instrs {
			for _, f := range strings.Fields(in.args) {
				if from, ok := strings.CutPrefix(f, "--from="); ok && in.cmd == "COPY" {
					if j, ok := byName[from]; ok && j < i {
						visit(j)
					}
				}
			}
		}
		out = append(out, i)
	}
	visit(i)
	return out
}

// chain returns stage i and the stages it is built FROM, base first.
func chain(stages []stage, byName map[string]int, i int) []int {
	if j, ok := byName[stages[i].base]; ok && j < i {
		return append(chain(stages, byName, j), i)
	}
	return []int{i}
}

// rootImage is the image stage i ultimately starts from.
func rootImage(stages []stage, byName map[string]int, i int) string {
	return stages[chain(stages, byName, i)[0]].base
}

// moduleLayer checks, in the chain of the stage that compiles the final
// stage's binary, that go.mod and go.sum are copied and downloaded before
// the rest of the source, so that a source edit keeps the module layer.
func moduleLayer(stages []stage, byName map[string]int, final int) string {
	for _, i := range closure(stages, byName, final) {
		var seq []instruction
		for _, j := range chain(stages, byName, i) {
			seq = append(seq, stages[j].instrs...)
		}
		copyMod, download, copyAll := -1, -1, -1
		for k, in := range seq {
			switch {
			case in.cmd == "COPY" && strings.Contains(in.args, "go.mod") && strings.Contains(in.args, "go.sum") && copyMod < 0:
				copyMod = k
			case in.cmd == "RUN" && strings.Contains(in.args, "go mod download") && download < 0:
				download = k
			case in.cmd == "COPY" && strings.HasPrefix(in.args, ". ") && copyAll < 0:
				copyAll = k
			}
		}
		if copyAll < 0 {
			continue
		}
		if copyMod < 0 || download < copyMod || copyAll < download {
			return "the source is copied before `COPY go.mod go.sum` + `RUN go mod download`: every edit would download the modules again"
		}
		return ""
	}
	return "no stage copies the source (COPY . .)"
}

func lastArgs(st stage, cmd string) string {
	out := ""
	for _, in := range st.instrs {
		if in.cmd == cmd {
			out = in.args
		}
	}
	return out
}

// hostPath maps a path inside a service's container to the host path a bind
// mount puts there.
func hostPath(svc types.ServiceConfig, ctr string) (string, bool) {
	best := -1
	for i, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind || (ctr != v.Target && !strings.HasPrefix(ctr, strings.TrimSuffix(v.Target, "/")+"/")) {
			continue
		}
		if best < 0 || len(v.Target) > len(svc.Volumes[best].Target) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	v := svc.Volumes[best]
	return filepath.Join(v.Source, filepath.FromSlash(strings.TrimPrefix(ctr, v.Target))), true
}

// flagValue finds -name value, --name value, -name=value or --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		a = strings.TrimLeft(a, "-")
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func flagValueOr(args []string, name string) string {
	v, _ := flagValue(args, name)
	return v
}

func listenPort(svc types.ServiceConfig) string {
	_, port, err := net.SplitHostPort(envOf(svc, "LISTEN_ADDR"))
	if err != nil {
		return ""
	}
	return port
}

func envOf(svc types.ServiceConfig, key string) string {
	if v := svc.Environment[key]; v != nil {
		return *v
	}
	return ""
}

func service(t *testing.T, s *stack, name string) types.ServiceConfig {
	t.Helper()
	svc, ok := s.project.Services[name]
	if !ok {
		t.Fatalf("%s: services.%s is missing", composeFile, name)
	}
	return svc
}

func sortedNames(p *types.Project) []string { return slices.Sorted(maps.Keys(p.Services)) }

func keys(m map[string]*types.ServiceNetworkConfig) []string { return slices.Sorted(maps.Keys(m)) }

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
