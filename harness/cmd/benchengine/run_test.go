package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

func TestParseFlags(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c, err := parseFlags(nil, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.Duration != 10*time.Second || c.Connections != 50 || c.Rounds != 3 || len(c.Parts) != 3 ||
			c.memoryLong() != 2*time.Minute || c.Latency != 100*time.Millisecond {
			t.Errorf("defaults %+v", c)
		}
	})
	t.Run("memory-long", func(t *testing.T) {
		c, err := parseFlags([]string{"-memory-long", "-only", "memory"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.memoryLong() != 10*time.Minute || !c.Parts[partMemory] || c.Parts[partThroughput] {
			t.Errorf("got long %v, parts %v; want 10m, memory only", c.memoryLong(), c.Parts)
		}
	})
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"fractional duration", []string{"-duration", "1500ms"}, "-duration: want whole seconds"},
		{"threads over connections", []string{"-threads", "4", "-connections", "2"}, "want 1 <= threads <= connections"},
		{"no rounds", []string{"-rounds", "0"}, "-rounds: want at least 1"},
		{"sub-millisecond latency", []string{"-latency", "100500us"}, "-latency: want whole milliseconds"},
		{"unknown part", []string{"-only", "throughput,speed"}, `unknown part "speed"`},
		{"stray argument", []string{"now"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.args, io.Discard)
			var ue benchkit.UsageError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseFlags error = %v, want one containing %q", err, tt.wantErr)
			}
			if !asUsage(err, &ue) {
				t.Errorf("error %T, want a benchkit.UsageError (exit status 2)", err)
			}
		})
	}
}

func asUsage(err error, ue *benchkit.UsageError) bool {
	u, ok := err.(benchkit.UsageError)
	*ue = u
	return ok
}

func TestRunMissingBinary(t *testing.T) {
	var stderr strings.Builder
	code := run(t.Context(), []string{"benchengine", "-only", "memory", "-flagstorm", "/nonexistent/flagstorm"}, io.Discard, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "make build") {
		t.Errorf("exit %d, stderr %q; want %d and a hint to run make build", code, stderr.String(), exitUsage)
	}
}
