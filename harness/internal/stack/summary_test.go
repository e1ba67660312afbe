package stack

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"password", "postgres://u:secret@127.0.0.1:5432/db", "postgres://u:xxxxx@127.0.0.1:5432/db"},
		{"user only", "postgres://u@127.0.0.1:5432/db", "postgres://u@127.0.0.1:5432/db"},
		{"no userinfo", "postgres://127.0.0.1:5432/db", "postgres://127.0.0.1:5432/db"},
		{"no scheme", "u:secret@host", "u:secret@host"},
		{"query password", "postgres://u@h:5432/db?sslmode=disable&password=secret", "postgres://u@h:5432/db?sslmode=disable&password=xxxxx"},
		{"both", "postgres://u:s1@h/db?PASSWORD=s2&sslpassword=s3#f", "postgres://u:xxxxx@h/db?PASSWORD=xxxxx&sslpassword=xxxxx#f"},
		{"no path", "postgres://u:secret@h:5432?password=s", "postgres://u:xxxxx@h:5432?password=xxxxx"},
		{"redis", "redis://:secret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"at in path", "postgres://h/db@x?application_name=a", "postgres://h/db@x?application_name=a"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := redact(tc.in); got != tc.want {
				t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestEndpointsSummary(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ep    Endpoints
		write func(Endpoints, *strings.Builder)
		want  string
	}{
		{
			name: "external",
			ep: Endpoints{
				TargetURLs:  []string{"http://127.0.0.1:8080"},
				Proxies:     map[string]string{ProxyRedis: "127.0.0.1:1001", ProxyPostgres: "127.0.0.1:1003"},
				Upstreams:   map[string]string{ProxyRedis: "10.0.0.1:6379", ProxyPostgres: "10.0.0.2:5432"},
				DatabaseURL: "postgres://u:secret@10.0.0.2:5432/db",
				External:    true,
			},
			write: func(ep Endpoints, b *strings.Builder) { ep.writeExternal(b) },
			want: `target (yours): http://127.0.0.1:8080
proxy postgres      127.0.0.1:1003 -> 10.0.0.2:5432
proxy redis         127.0.0.1:1001 -> 10.0.0.1:6379
database (direct, for the oracle): postgres://u:xxxxx@10.0.0.2:5432/db
Point your service at the proxies: Redis at 127.0.0.1:1001, PostgreSQL at 127.0.0.1:1003.
To run scenario files with faults against it, start the stack with --toxiproxy-api 127.0.0.1:0 (flagstorm run needs the API: --toxiproxy-url).
`,
		},
		{
			name: "local sqlite",
			ep: Endpoints{
				TargetURLs:   []string{"http://127.0.0.1:8080", "http://127.0.0.1:8081"},
				Profiles:     []string{"hardened", "seed"},
				RedisPrimary: "127.0.0.1:2001",
				RedisReplica: "127.0.0.1:2002",
				Proxies:      map[string]string{ProxyRedis: "127.0.0.1:1001"},
				Database:     "sqlite",
				SQLitePath:   "/run/flagserver.db",
				AdminToken:   "tok-secret",
				Processes:    []Process{{Name: "flagserver[1]", PID: 42}},

				AdminTokenFile:    "/run/admin-token",
				RedisPassword:     "redis-secret",
				RedisPasswordFile: "/run/redis-password",
			},
			write: func(ep Endpoints, b *strings.Builder) { ep.writeLocal(b) },
			want: `flagserver[0] (hardened): http://127.0.0.1:8080  pid 0
flagserver[1] (seed): http://127.0.0.1:8081  pid 42
redis primary  127.0.0.1:2001         via proxy redis         127.0.0.1:1001
redis replica  127.0.0.1:2002       
               password (both): /run/redis-password
database       SQLite /run/flagserver.db (no postgres proxy: database faults are unavailable)
admin token    /run/admin-token
`,
		},
		{
			name: "local throwaway",
			ep: Endpoints{
				TargetURLs:  []string{"http://127.0.0.1:8080"},
				Profiles:    []string{"hardened"},
				Proxies:     map[string]string{ProxyPostgres: "127.0.0.1:1003"},
				Database:    "throwaway",
				DatabaseURL: "postgres://postgres:pw@127.0.0.1:5432/flagstorm",
			},
			write: func(ep Endpoints, b *strings.Builder) { ep.writeLocal(b) },
			want: `flagserver[0] (hardened): http://127.0.0.1:8080  pid 0
redis primary                       
redis replica                       
postgres       postgres://postgres:xxxxx@127.0.0.1:5432/flagstorm  via proxy postgres      127.0.0.1:1003  (throwaway cluster)
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			tc.write(tc.ep, &b)
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHideSecrets(t *testing.T) {
	s := &Stack{dbURL: "postgres://u:s1-db@h/db?password=s2-db", redisPass: "redis-pw-1", cfg: Config{AdminToken: "token-123"}}
	got := s.hide("app --dsn host=h password=s2-db --url postgres://u:s1-db@h/db --redis redis://:redis-pw-1@h/0 --token token-123")
	if want := "app --dsn host=h password=xxxxx --url postgres://u:xxxxx@h/db --redis redis://:xxxxx@h/0 --token xxxxx"; got != want {
		t.Errorf("hide = %q, want %q", got, want)
	}
}
