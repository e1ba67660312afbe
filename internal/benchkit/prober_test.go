package benchkit

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/freeport"
	"github.com/flagstorm/flagstorm/internal/testenv"
)

func TestProberReady(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	pr := NewProber()
	defer pr.Close()
	ready := pr.Ready(srv.URL + "/readyz")
	if err := ready(t.Context()); err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Errorf("ready while 503 = %v, want the status", err)
	}
	status.Store(http.StatusOK)
	if err := ready(t.Context()); err != nil {
		t.Errorf("ready while 200 = %v", err)
	}
	srv.Close()
	if err := ready(t.Context()); err == nil {
		t.Error("ready of a closed server: want an error")
	}
}

func TestProberWarmUp(t *testing.T) {
	t.Run("every request answered", func(t *testing.T) {
		var n atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			Hello(w, r)
		}))
		t.Cleanup(srv.Close)
		pr := NewProber()
		defer pr.Close()
		if err := pr.WarmUp(t.Context(), srv.URL+"/"); err != nil {
			t.Fatal(err)
		}
		if n.Load() != warmRequests {
			t.Errorf("%d requests, want %d", n.Load(), warmRequests)
		}
	})
	t.Run("an error status stops it", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "broken", http.StatusInternalServerError)
		}))
		t.Cleanup(srv.Close)
		pr := NewProber()
		defer pr.Close()
		err := pr.WarmUp(t.Context(), srv.URL+"/")
		if err == nil || !strings.Contains(err.Error(), "warm up "+srv.URL+"/: status 500") {
			t.Errorf("WarmUp = %v, want the first failure", err)
		}
	})
}

func TestHelloMux(t *testing.T) {
	srv := httptest.NewServer(HelloMux())
	t.Cleanup(srv.Close)
	pr := NewProber()
	defer pr.Close()
	status, h, body, err := pr.Get(t.Context(), srv.URL+"/anything")
	if err != nil || status != http.StatusOK || string(body) != HelloBody || h.Get("Content-Type") != "application/json" {
		t.Errorf("GET / = %d %q (%s), %v; want 200 and HelloBody as JSON", status, body, h.Get("Content-Type"), err)
	}
	if err := pr.Ready(srv.URL + "/readyz")(t.Context()); err != nil {
		t.Errorf("readyz: %v", err)
	}
}

func TestServe(t *testing.T) {
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, addr, HelloMux()) }()
	pr := NewProber()
	defer pr.Close()
	ready := pr.Ready("http://" + addr + "/readyz")
	testenv.Poll(t, 10*time.Second, "the server is ready", func() error {
		select {
		case err := <-served:
			t.Fatalf("Serve returned before it was ready: %v", err)
		default:
		}
		return ready(t.Context())
	})
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve after cancel = %v, want a clean shutdown", err)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if err := Serve(t.Context(), taken.Addr().String(), HelloMux()); err == nil || !strings.HasPrefix(err.Error(), "listen: ") {
		t.Errorf("Serve on a taken port = %v, want a listen error", err)
	}
}
