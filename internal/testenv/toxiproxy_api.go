package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// ToxiproxyAPI sends method path to the Toxiproxy API at baseURL (like
// "http://127.0.0.1:8474"), with body as JSON unless it is nil, and
// decodes the answer into out unless out is nil. The test fails if the
// call does not answer wantStatus within 5 s:
//
//	var toxics []toxics.ToxicInfo
//	testenv.ToxiproxyAPI(t, tp.URL(), http.MethodGet, "/proxies/redis/toxics", nil, http.StatusOK, &toxics)
//
// It does not go through any controller of this module, so it checks
// what the server itself holds.
func ToxiproxyAPI(t testing.TB, baseURL, method, path string, body any, wantStatus int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, baseURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "flagstorm-testenv") // Toxiproxy refuses browsers
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: HTTP %d (want %d): %s", method, req.URL, resp.StatusCode, wantStatus, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, req.URL, data, err)
		}
	}
}
