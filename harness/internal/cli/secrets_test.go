package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretFlag: a secret comes from the command line (with a warning),
// a file, or the environment; the command line wins; a file others may
// read is accepted with a warning; --x and --x-file together are refused.
func TestSecretFlag(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open")
	if err := os.WriteFile(open, []byte("from-open-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		warning string // "" for none
		usage   bool
	}{
		{name: "argv", args: []string{"--admin-token", "from-argv"}, want: "from-argv", warning: "--admin-token on the command line is readable by every local user"},
		{name: "argv with =", args: []string{"-admin-token=from-argv"}, want: "from-argv", warning: "use --admin-token-file FILE or FLAGSTORM_ADMIN_TOKEN"},
		{name: "file", args: []string{"--admin-token-file", file}, want: "from-file"},
		{name: "environment", env: map[string]string{"FLAGSTORM_ADMIN_TOKEN": "from-env"}, want: "from-env"},
		{name: "file from the environment", env: map[string]string{"FLAGSTORM_ADMIN_TOKEN_FILE": file}, want: "from-file"},
		{name: "argv wins over the environment", args: []string{"--admin-token-file", file}, env: map[string]string{"FLAGSTORM_ADMIN_TOKEN": "from-env"}, want: "from-file"},
		{name: "a file others may read", args: []string{"--admin-token-file", open}, want: "from-open-file", warning: "readable by other users"},
		{name: "both in argv", args: []string{"--admin-token", "a", "--admin-token-file", file}, usage: true},
		{name: "missing file", args: []string{"--admin-token-file", filepath.Join(dir, "missing")}, usage: true},
		{name: "none", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			e := env{getenv: func(k string) string { return tc.env[k] }, stderr: &stderr}
			fs := newFlagSet("test", e)
			var s secretFlag
			s.define(fs, "admin-token", "a token")
			if err := parse(fs, e, tc.args); err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, err := s.resolve(e, tc.args)
			var ee *exitError
			switch {
			case tc.usage:
				if !errors.As(err, &ee) || ee.code != ExitUsage {
					t.Fatalf("resolve = %q, %v; want a usage error", got, err)
				}
				return
			case err != nil:
				t.Fatalf("resolve: %v", err)
			}
			if got != tc.want {
				t.Errorf("resolve = %q, want %q", got, tc.want)
			}
			switch w := stderr.String(); {
			case tc.warning == "" && w != "":
				t.Errorf("unexpected warning: %s", w)
			case !strings.Contains(w, tc.warning):
				t.Errorf("warning %q, want %q in it", w, tc.warning)
			}
		})
	}
}

// TestWarnArgvURLs: a URL flag given on the command line with a password
// warns; without one, or from the environment, it does not.
func TestWarnArgvURLs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		warn bool
	}{
		{[]string{"--database-url", "postgres://u:pw@h/db"}, true},
		{[]string{"--database-url=postgres://u@h/db?password=pw"}, true},
		{[]string{"--target-url", "http://h:1,http://u:pw@h:2"}, true},
		{[]string{"--toxiproxy-url", "http://h:8474"}, false},
		{[]string{"--database-url", "postgres://u@h/db"}, false},
		{nil, false},
	} {
		var stderr bytes.Buffer
		warnArgvURLs(env{stderr: &stderr}, tc.args, "database-url", "target-url", "toxiproxy-url")
		if got := stderr.Len() > 0; got != tc.warn {
			t.Errorf("%q: warned %v, want %v (%s)", tc.args, got, tc.warn, stderr.String())
		}
		if strings.Contains(stderr.String(), "pw") {
			t.Errorf("the warning shows the password: %s", stderr.String())
		}
	}
}
