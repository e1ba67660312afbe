package app

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
	"github.com/flagstorm/flagstorm/target/internal/store/postgres"
)

// staleBound is how long after flagserver finished a PATCH of unknown
// outcome a read may still serve the old version (issue 12, finding 2):
// hardened's in-process copy is dropped by the update itself, so the bound
// is scheduling slack, not a TTL.
const staleBound = 2 * time.Second

// TestPatchWhoseClientHangsUpMidCommitInvalidates: the PATCH's reply from
// PostgreSQL is delayed (a Toxiproxy latency on the postgres proxy) past
// the HTTP client's deadline, so the client hangs up while the database
// commits. The commit must land and, in both profiles, every read after
// flagserver finished the PATCH must see the new version within
// staleBound, not the old one from Redis for the TTL.
func TestPatchWhoseClientHangsUpMidCommitInvalidates(t *testing.T) {
	for _, profile := range ProfileNames {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			dbURL := testenv.PostgresURL(t)
			u, err := url.Parse(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			pg := testenv.NewProxy(t, "postgres", u.Host)
			u.Host = pg.Addr()
			redis := testenv.Redis(t)
			srv := start(t, options{profile: profile, redisURL: redis.URL(), dbURL: u.String()})
			direct, err := postgres.Open(t.Context(), postgres.Config{URL: dbURL})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(direct.Close)

			const key = "flag-007"
			// A first PATCH (of another flag) prepares the update statement on the pooled
			// connection (pgx prepares on first use: one more round trip),
			// and database reads right before the PATCH under test keep
			// that connection the most recently used one and not idle long
			// enough for pgxpool to ping it (over 1 s). Without them the
			// client's deadline would fall before the commit on today's
			// code too, and the test would show nothing.
			must(t, patch(t, srv, "flag-008", `{"description": "warm-up"}`), 200, "") // another key: hardened's second DEL 1 s later must not hide the bug
			old := getFlag(t, srv, key)
			must(t, old, 200, "db")
			if n := redis.Client(t).Exists(t.Context(), "feature_flags:production:"+key).Val(); n != 1 {
				t.Fatalf("the read did not fill Redis (EXISTS = %d)", n)
			}
			oldVersion := old.flag(t).Version
			must(t, getFlag(t, srv, "flag-009"), 200, "db")
			remove := pg.Latency(t, 600*time.Millisecond, 0)
			hangUp := &http.Client{Timeout: 200 * time.Millisecond}
			req, err := http.NewRequest("PATCH", srv.URL()+"/api/config/flags/"+key+"?environment=production",
				strings.NewReader(`{"description": "committed while the client hung up"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := hangUp.Do(req); err == nil {
				resp.Body.Close()
				t.Fatalf("PATCH answered %d within the client's 200 ms despite a 600 ms database reply", resp.StatusCode)
			}

			testenv.Poll(t, 10*time.Second, "the update commits in PostgreSQL", func() error {
				f, err := direct.Get(t.Context(), "production", key)
				if err != nil {
					return err
				}
				if f.Version != oldVersion+1 {
					return fmt.Errorf("version %d, want %d", f.Version, oldVersion+1)
				}
				return nil
			})
			testenv.Poll(t, 10*time.Second, "flagserver finishes the PATCH", func() error {
				// The warm-up's 200, then this one's: 200 once the commit
				// returns (the client is gone), 503 if it failed.
				n := metric(t, srv, "flagserver_http_requests_total", "method", "PATCH", "code", "200") +
					metric(t, srv, "flagserver_http_requests_total", "method", "PATCH", "code", "503")
				if n < 2 {
					return fmt.Errorf("%v PATCH requests answered, want 2", n)
				}
				return nil
			})
			remove()
			testenv.PollEvery(t, 50*time.Millisecond, staleBound, "reads after flagserver finished the PATCH serve the committed version", func() error {
				if v := getFlag(t, srv, key).flag(t).Version; v != oldVersion+1 {
					return fmt.Errorf("version %d, want %d", v, oldVersion+1)
				}
				return nil
			})
		})
	}
}
