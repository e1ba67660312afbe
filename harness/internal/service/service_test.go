package service

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const minimal = `version: 1
name: minimal-go
command:
  argv: ["../../bin/minimal-go"]
  env: {LISTEN_ADDR: "{{listen}}", REDIS_URL: "{{redis_url}}", DATABASE_URL: "{{database_url}}", ADMIN_TOKEN: "{{admin_token}}"}
seed: {argv: ["../../bin/minimal-go", seed]}
oracle: {nonce: description, truth: "SELECT description FROM flags WHERE env = $1 AND flag_key = $2"}
`

func TestParse(t *testing.T) {
	d, err := Parse("examples/minimal-go/flagstorm.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := &Description{
		File: "examples/minimal-go/flagstorm.yaml", Dir: "examples/minimal-go", Name: "minimal-go",
		Command: &Command{Argv: []string{"../../bin/minimal-go"}, Env: map[string]string{
			"LISTEN_ADDR": "{{listen}}", "REDIS_URL": "{{redis_url}}", "DATABASE_URL": "{{database_url}}", "ADMIN_TOKEN": "{{admin_token}}"}},
		Ready: "/readyz", ReadyTimeout: 30 * time.Second,
		Seed:     &Seed{Argv: []string{"../../bin/minimal-go", "seed"}},
		Variants: map[string]Variant{DefaultVariant: {}},
		Oracle:   Oracle{Nonce: "description", Truth: "SELECT description FROM flags WHERE env = $1 AND flag_key = $2"},
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("description (-want +got):\n%s", diff)
	}
	if got := Expand("redis://{{ redis_addr }}/0?x={{port}}", map[string]string{"redis_addr": "127.0.0.1:6380", "port": "9"}); got != "redis://127.0.0.1:6380/0?x=9" {
		t.Errorf("Expand = %q", got)
	}
	if got := d.Path("seed.sql"); got != filepath.Join("examples/minimal-go", "seed.sql") {
		t.Errorf("Path = %q", got)
	}
}

// The repository's own descriptions parse.
func TestShippedDescriptions(t *testing.T) {
	for _, f := range []string{"../../../examples/minimal-go/flagstorm.yaml"} {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"wrong version", "version: 1", "version: 2", "version: want 1"},
		{"unknown key", "name: minimal-go", "name: minimal-go\nnmae: x", "line 3: field nmae not found"},
		{"no command", `command:
  argv: ["../../bin/minimal-go"]
  env: {LISTEN_ADDR: "{{listen}}", REDIS_URL: "{{redis_url}}", DATABASE_URL: "{{database_url}}", ADMIN_TOKEN: "{{admin_token}}"}
seed: {argv: ["../../bin/minimal-go", seed]}
`, "", "command: required"},
		{"unknown placeholder", "{{redis_url}}", "{{redis}}", `command.env.REDIS_URL: unknown placeholder {{redis}}`},
		{"both command and running", "name: minimal-go", "name: minimal-go\nrunning: {url: 'http://127.0.0.1:1'}", "running: a description has command: or running:, not both"},
		{"no oracle field", "oracle: {nonce: description, truth: \"SELECT description FROM flags WHERE env = $1 AND flag_key = $2\"}", "oracle: {version: ''}", "oracle: name a version field"},
		{"truth without parameters", "flag_key = $2", "flag_key = 'x'", "oracle.truth: the query takes the environment as $1 and the key as $2"},
		{"bad variant name", "name: minimal-go", "name: minimal-go\nvariants: {Bad_Name: {}}", "variants.Bad_Name: a variant's name"},
		{"seed both ways", "seed: {argv: [\"../../bin/minimal-go\", seed]}", "seed: {argv: [x], sql: y.sql}", "seed: a command (argv:) or an SQL file (sql:), not both"},
		{"bad ready path", "name: minimal-go", "name: minimal-go\nready: readyz", `ready: want a path such as /readyz, got "readyz"`},
		{"bad timeout", "name: minimal-go", "name: minimal-go\nreadyTimeout: soon", `readyTimeout: want a positive duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(minimal, tc.from, tc.to, 1)
			if src == minimal {
				t.Fatalf("the case changes nothing")
			}
			_, err := Parse("t.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "t.yaml") {
				t.Errorf("error %v, want it to name t.yaml and say %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// Secrets in an argv are found (for the stack's warning); those in env:
// are not a concern.
func TestSecretsInArgv(t *testing.T) {
	got := SecretsInArgv([]string{"./svc", "--redis={{redis_url}}", "--listen={{listen}}", "--token", "{{ admin_token }}", "{{redis_url}}", "--pw={{redis_password}}"})
	if diff := cmp.Diff([]string{"redis_url", "admin_token", "redis_password"}, got); diff != "" {
		t.Errorf("SecretsInArgv (-want +got):\n%s", diff)
	}
	if got := SecretsInArgv([]string{"./svc", "--listen", "{{listen}}", "--redis", "{{redis_addr}}"}); len(got) != 0 {
		t.Errorf("SecretsInArgv of an argv without secrets = %q", got)
	}
	for _, p := range SecretPlaceholders {
		if !slices.Contains(Placeholders, p) {
			t.Errorf("secret placeholder %q is not a placeholder", p)
		}
	}
}
