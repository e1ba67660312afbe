package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

var benchBody = []byte(`{"key":"checkout","environment":"prod","enabled":true,"rolloutPercentage":25,"description":"new checkout","version":7,"updatedAt":"2025-01-02T03:04:05Z"}`)

// hello is the baseline the GET handlers are held to (>= 0.8x its throughput).
var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("hello world"))
})

func newBenchHandler(b *testing.B, metrics bool) http.Handler {
	b.Helper()
	cfg := Config{}
	if metrics {
		cfg.Registerer = prometheus.NewRegistry()
	}
	h, err := New(stubService{body: benchBody}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func benchHandler(b *testing.B, h http.Handler, target string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}

// BenchmarkGetFlag measures the handler alone (no network), against the
// hello-world baseline, with and without metrics.
func BenchmarkGetFlag(b *testing.B) {
	const target = "/api/config/flags/checkout?environment=prod"
	b.Run("hello", func(b *testing.B) { benchHandler(b, hello, target) })
	b.Run("get", func(b *testing.B) { benchHandler(b, newBenchHandler(b, false), target) })
	b.Run("get+metrics", func(b *testing.B) { benchHandler(b, newBenchHandler(b, true), target) })
	b.Run("list+metrics", func(b *testing.B) { benchHandler(b, newBenchHandler(b, true), "/api/config/flags?environment=prod") })
	b.Run("evaluate+metrics", func(b *testing.B) {
		benchHandler(b, newBenchHandler(b, true), "/api/config/flags/checkout/evaluate?environment=prod&userId=user-42")
	})
}

// BenchmarkServer measures throughput end to end over loopback HTTP/1.1
// with keep-alive, which is how the harness compares them.
func BenchmarkServer(b *testing.B) {
	const path = "/api/config/flags/checkout?environment=prod"
	for _, bc := range []struct {
		name string
		h    func(*testing.B) http.Handler
	}{
		{"hello", func(*testing.B) http.Handler { return hello }},
		{"get+metrics", func(b *testing.B) http.Handler { return newBenchHandler(b, true) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(bc.h(b))
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 256}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := c.Get(srv.URL + path)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Errorf("status %d", res.StatusCode)
						return
					}
				}
			})
		})
	}
}
