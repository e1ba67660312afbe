package logfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.log")
	if got := Size(missing); got != 0 {
		t.Errorf("Size(missing) = %d, want 0", got)
	}
	if got := From(missing, 0); got != "" {
		t.Errorf("From(missing) = %q, want empty", got)
	}
	if got := Tail(missing, 10); !strings.HasPrefix(got, "(no log: ") {
		t.Errorf("Tail(missing) = %q, want it to say there is no log", got)
	}

	path := filepath.Join(dir, "server.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Tail(path, 10); got != "(log is empty)" {
		t.Errorf("Tail(empty) = %q", got)
	}
	if err := os.WriteFile(path, []byte("starting\nready to accept connections\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mark := int64(len("starting\n"))
	for _, tt := range []struct {
		name, got, want string
	}{
		{"From a mark", From(path, mark), "ready to accept connections\n"},
		{"From beyond the end", From(path, 1000), ""},
		{"From a negative offset", From(path, -1), ""},
		{"Tail shorter than the file", Tail(path, 12), "connections\n"},
		{"Tail longer than the file", Tail(path, 1000), "starting\nready to accept connections\n"},
		{"Tail of a negative length", Tail(path, -5), "(log is empty)"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if got := Size(path); got != int64(len("starting\nready to accept connections\n")) {
		t.Errorf("Size = %d", got)
	}
}
