package testenv

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestTCPServerHolds: with no handler the server accepts and never
// answers (the echo handler is exercised by TestExternalToxiproxy).
func TestTCPServerHolds(t *testing.T) {
	c, err := net.DialTimeout("tcp", TCPServer(t, nil), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !isTimeout(err) {
		t.Errorf("read from a holding server: %d bytes, %v; want a timeout", n, err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestFakePrometheus(t *testing.T) {
	p := &FakePrometheus{Values: CannedGateValues(map[string]float64{"errors": 30})}
	query := func(path, q string) (int, string) {
		form := url.Values{"query": {q}, "time": {"12"}}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	for _, tc := range []struct{ q, want string }{
		{`sum(increase(flagserver_http_requests_total{track="canary",code=~"5.."}[1m]))`, `"value":[12,"30"]`},
		{`sum(increase(flagserver_http_requests_total{track="baseline",code=~"5.."}[1m]))`, `"value":[12,"0"]`},
		{`sum(increase(flagserver_reads_total{track="canary"}[1m]))`, `"value":[12,"1000"]`},
	} {
		if code, body := query("/api/v1/query", tc.q); code != http.StatusOK || !strings.Contains(body, tc.want) {
			t.Errorf("%s: HTTP %d %s, want %s", tc.q, code, body, tc.want)
		}
	}
	p.Values["canary"] = map[string]float64{}
	if _, body := query("/api/v1/query", `histogram_quantile(0.95, x{track="canary"})`); !strings.Contains(body, `"result":[]`) {
		t.Errorf("a missing kind answered %s, want an empty vector", body)
	}
	if code, _ := query("/api/v1/series", "up"); code != http.StatusBadRequest {
		t.Errorf("another path: HTTP %d, want 400", code)
	}
	p.Down.Store(true)
	if code, _ := query("/api/v1/query", "up"); code != http.StatusServiceUnavailable {
		t.Errorf("down: HTTP %d, want 503", code)
	}
	if n := p.Queries.Load(); n != 6 {
		t.Errorf("counted %d queries, want 6", n)
	}
}
