package secret

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:pa55@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"redis://:s3cret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"postgres://u@h/db?password=pa55&sslmode=disable", "postgres://u@h/db?password=xxxxx&sslmode=disable"},
		{"postgres://h/db?sslpassword=k3y#frag", "postgres://h/db?sslpassword=xxxxx#frag"},
		{"http://h/?access_token=abcd&x=1", "http://h/?access_token=xxxxx&x=1"},
		{"http://user:p%40ss@h:8474", "http://user:xxxxx@h:8474"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"127.0.0.1:6379", "127.0.0.1:6379"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestInURL(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"postgres://u:pa55@h/db", []string{"pa55"}},
		{"postgres://u@h/db?password=pw1&sslmode=disable", []string{"pw1"}},
		{"redis://:s3cret@h:1/0", []string{"s3cret"}},
		{"http://h:8080", nil},
		// Malformed (a bad port, a stray %): the password is still found.
		{"redis://:s3cret@h:port/0", []string{"s3cret"}},
		{"postgres://u:pa%zz55@h/db", []string{"pa%zz55"}},
		{"h:8080", nil},
	}
	for _, tt := range tests {
		if got := InURL(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("InURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHide(t *testing.T) {
	text := "argv: serve --redis redis://:r3dis-pw@h/0 --db postgres://u:p%40ss@h/db token=t0ken-1 short=ab"
	got := Hide(text, "t0ken-1", "postgres://u:p%40ss@h/db", "redis://:r3dis-pw@h/0", "ab", "")
	want := "argv: serve --redis redis://:xxxxx@h/0 --db postgres://u:xxxxx@h/db token=xxxxx short=ab"
	if got != want {
		t.Errorf("Hide = %q\nwant %q", got, want)
	}
	// The decoded form of a password is hidden too.
	if got := Hide("password p@ss in a log", "postgres://u:p%40ss@h/db"); got != "password xxxxx in a log" {
		t.Errorf("Hide of the decoded password = %q", got)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v, open, err := ReadFile(write("ok", "tok-123\n", 0o600))
	if err != nil || v != "tok-123" || open {
		t.Errorf("ReadFile(0600 file) = %q, %v, %v; want tok-123, false, nil", v, open, err)
	}
	if _, open, err := ReadFile(write("open", "tok", 0o644)); err != nil || !open {
		t.Errorf("ReadFile(0644 file): readable by others = %v (%v), want true", open, err)
	}
	for _, name := range []string{"empty", "two"} {
		body := map[string]string{"empty": "\n", "two": "a\nb\n"}[name]
		if _, _, err := ReadFile(write(name, body, 0o600)); err == nil {
			t.Errorf("ReadFile(%s) accepted %q", name, body)
		}
	}
	if _, _, err := ReadFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadFile of a missing file: no error")
	}
}
