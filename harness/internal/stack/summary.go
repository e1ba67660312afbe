package stack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
)

// summaryJSON is what WriteJSON writes.
type summaryJSON struct {
	Endpoints
	ReadySeconds         float64 `json:"ready_seconds"`
	PostgresSetupSeconds float64 `json:"postgres_setup_seconds,omitempty"`
}

// WriteJSON writes the endpoints (with the child PIDs) and the start
// times as one line of JSON, database passwords hidden (database_url_file
// holds a throwaway cluster's URL with its password).
func (s *Stack) WriteJSON(w io.Writer) error {
	ep := s.Endpoints()
	ep.DatabaseURL = redact(ep.DatabaseURL)
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
// block, database passwords hidden.
func (s *Stack) WriteSummary(w io.Writer) {
	ep := s.Endpoints()
	if ep.External {
		ep.writeExternal(w)
	} else {
		ep.writeLocal(w)
	}
	if ep.ToxiproxyAPI != "" {
		fmt.Fprintf(w, "toxiproxy API  %s/ (toxiproxy-cli -h %s list)\n", ep.ToxiproxyAPI, ep.ToxiproxyAPI)
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
	fmt.Fprintf(w, "target (yours): %s\n", ep.TargetURLs[0])
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
		fmt.Fprintf(w, "Then run a scenario with faults and the oracle: flagstorm run FILE --target-url %s --toxiproxy-url %s --database-url URL (the direct one above).\n", ep.TargetURLs[0], ep.ToxiproxyAPI)
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
	fmt.Fprintf(w, "admin token    %s\n", ep.AdminToken)
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

// redact hides a URL's passwords: the one in its userinfo
// (scheme://user:xxxxx@host) and password or sslpassword query
// parameters. Text that is not a URL is returned as it is.
func redact(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		if name, _, hasPass := strings.Cut(authority[:at], ":"); hasPass {
			authority = name + ":xxxxx" + authority[at:]
		}
	}
	path, query, hasQuery := strings.Cut(tail, "?")
	if !hasQuery {
		return scheme + "://" + authority + tail
	}
	query, fragment, hasFragment := strings.Cut(query, "#")
	params := strings.Split(query, "&")
	for i, p := range params {
		if k, _, hasValue := strings.Cut(p, "="); hasValue && (strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword")) {
			params[i] = k + "=xxxxx"
		}
	}
	out := scheme + "://" + authority + path + "?" + strings.Join(params, "&")
	if hasFragment {
		out += "#" + fragment
	}
	return out
}

// hideSecrets replaces every password of the URL dbURL found in text
// (a command line, say) by xxxxx.
func hideSecrets(text, dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return text
	}
	var secrets []string
	if p, ok := u.User.Password(); ok {
		secrets = append(secrets, p)
	}
	for k, vs := range u.Query() {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			secrets = append(secrets, vs...)
		}
	}
	for _, secret := range secrets {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, "xxxxx")
		}
	}
	return text
}
