package stack

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/flagstorm/flagstorm/internal/secret"
)

// summaryJSON is what WriteJSON writes.
type summaryJSON struct {
	Endpoints
	ReadySeconds         float64 `json:"ready_seconds"`
	PostgresSetupSeconds float64 `json:"postgres_setup_seconds,omitempty"`
}

// WriteJSON writes the endpoints (with the child PIDs) and the start
// times as one line of JSON, secrets hidden: the database URL's password
// is masked, the Redis password and the admin token are left out; the
// files named by database_url_file, redis_password_file and
// admin_token_file (mode 0600) hold them.
func (s *Stack) WriteJSON(w io.Writer) error {
	ep := s.Endpoints()
	ep.DatabaseURL = redact(ep.DatabaseURL)
	ep.AdminToken, ep.RedisPassword = "", "" // json:"-" already; belt and braces
	ep.TargetURLs = secret.URLs(ep.TargetURLs)
	b, err := json.Marshal(summaryJSON{
		Endpoints:            ep,
		ReadySeconds:         s.ReadyIn().Seconds(),
		PostgresSetupSeconds: s.PostgresSetup().Seconds(),
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteSummary writes the endpoints and the start time as a readable
// block, secrets hidden: it names the files that hold them.
func (s *Stack) WriteSummary(w io.Writer) {
	ep := s.Endpoints()
	if ep.External {
		ep.writeExternal(w)
	} else {
		ep.writeLocal(w)
	}
	if ep.ToxiproxyAPI != "" {
		fmt.Fprintf(w, "toxiproxy API  %s/ (toxiproxy-cli -h %s list; no authentication: any local user can use it)\n", ep.ToxiproxyAPI, ep.ToxiproxyAPI)
	} else {
		fmt.Fprintln(w, "toxiproxy API  off (--toxiproxy-api 127.0.0.1:0 serves it, to every local user)")
	}
	if ep.Dir != "" {
		fmt.Fprintf(w, "run dir        %s\n", ep.Dir)
	}
	if d := s.PostgresSetup(); d > 0 {
		fmt.Fprintf(w, "ready in %.2f s (%.2f s of it creating the PostgreSQL cluster)\n", s.ReadyIn().Seconds(), d.Seconds())
	} else {
		fmt.Fprintf(w, "ready in %.2f s\n", s.ReadyIn().Seconds())
	}
	fmt.Fprintln(w, "Stop with Ctrl-C.")
}

// writeExternal writes the external mode's target and proxies.
func (ep Endpoints) writeExternal(w io.Writer) {
	fmt.Fprintf(w, "target (yours): %s\n", redact(ep.TargetURLs[0]))
	names := make([]string, 0, len(ep.Proxies))
	for n := range ep.Proxies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "proxy %-13s %s -> %s\n", n, ep.Proxies[n], ep.Upstreams[n])
	}
	if ep.DatabaseURL != "" {
		fmt.Fprintf(w, "database (direct, for the oracle): %s\n", redact(ep.DatabaseURL))
	}
	fmt.Fprintf(w, "Point your service at the proxies: %s.\n", ep.pointAt())
	if ep.ToxiproxyAPI != "" {
		fmt.Fprintf(w, "Then run a scenario with faults and the oracle: FLAGSTORM_DATABASE_URL=URL flagstorm run FILE --target-url %s --toxiproxy-url %s (URL: the direct one above).\n", redact(ep.TargetURLs[0]), ep.ToxiproxyAPI)
	} else {
		fmt.Fprintln(w, "To run scenario files with faults against it, start the stack with --toxiproxy-api 127.0.0.1:0 (flagstorm run needs the API: --toxiproxy-url).")
	}
}

// writeLocal writes the local stack's flagservers, Redis and database.
func (ep Endpoints) writeLocal(w io.Writer) {
	pids := map[string]int{}
	for _, p := range ep.Processes {
		pids[p.Name] = p.PID
	}
	for i, u := range ep.TargetURLs {
		name := fmt.Sprintf("flagserver[%d]", i)
		fmt.Fprintf(w, "%s (%s): %s  pid %d\n", name, ep.Profiles[i], u, pids[name])
	}
	fmt.Fprintf(w, "redis primary  %-21s%s\n", ep.RedisPrimary, ep.via(ProxyRedis))
	fmt.Fprintf(w, "redis replica  %-21s%s\n", ep.RedisReplica, ep.via(ProxyRedisReplica))
	if ep.RedisPasswordFile != "" {
		fmt.Fprintf(w, "               password (both): %s\n", ep.RedisPasswordFile)
	}
	switch ep.Database {
	case "sqlite":
		fmt.Fprintf(w, "database       SQLite %s (no postgres proxy: database faults are unavailable)\n", ep.SQLitePath)
	case "throwaway":
		fmt.Fprintf(w, "postgres       %s%s  (throwaway cluster)\n", redact(ep.DatabaseURL), ep.via(ProxyPostgres))
		if ep.DatabaseURLFile != "" {
			fmt.Fprintf(w, "               with its password: %s\n", ep.DatabaseURLFile)
		}
	default:
		fmt.Fprintf(w, "postgres       %s%s\n", redact(ep.DatabaseURL), ep.via(ProxyPostgres))
	}
	if ep.AdminTokenFile != "" {
		fmt.Fprintf(w, "admin token    %s\n", ep.AdminTokenFile)
	}
}

// via says which proxy, if any, stands in front of a backend.
func (ep Endpoints) via(proxy string) string {
	if l, ok := ep.Proxies[proxy]; ok {
		return fmt.Sprintf("  via proxy %-13s %s", proxy, l)
	}
	return ""
}

// pointAt says which proxy address stands for which backend.
func (ep Endpoints) pointAt() string {
	var parts []string
	for _, p := range []struct{ name, what string }{
		{ProxyRedis, "Redis"},
		{ProxyRedisReplica, "the Redis replica"},
		{ProxyPostgres, "PostgreSQL"},
	} {
		if l, ok := ep.Proxies[p.name]; ok {
			parts = append(parts, p.what+" at "+l)
		}
	}
	return strings.Join(parts, ", ")
}

// redact hides a URL's passwords (see secret.URL).
func redact(u string) string { return secret.URL(u) }
