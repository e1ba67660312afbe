package cli

import (
	"slices"
	"testing"
)

// TestFlagNames: every command's flags can be listed without running it,
// so the environment given to flagstorm elsewhere can be checked.
func TestFlagNames(t *testing.T) {
	if got := len(commands()); got != len(flagCommands)-1 {
		t.Errorf("%d commands but flagCommands lists %d (gate counts twice): keep them in step", got, len(flagCommands))
	}
	for cmd, want := range map[string]string{
		"run": "target-url", "validate": "", "suite": "quick", "stack": "toxiproxy-api",
		"gate evaluate": "prometheus", "gate serve": "listen", "version": "",
	} {
		names, err := FlagNames(cmd)
		if err != nil {
			t.Errorf("FlagNames(%q): %v", cmd, err)
			continue
		}
		if want != "" && !slices.Contains(names, want) {
			t.Errorf("FlagNames(%q) = %v, want %q among them", cmd, names, want)
		}
	}
	for _, bad := range []string{"", "nope", "gate"} {
		if _, err := FlagNames(bad); err == nil {
			t.Errorf("FlagNames(%q): no error", bad)
		}
	}
	if got := EnvName("target-url"); got != "FLAGSTORM_TARGET_URL" {
		t.Errorf("EnvName = %q", got)
	}
}

// TestUnknownEnv: a misspelt FLAGSTORM_ variable is reported; the flags'
// own, other variables and the tests' settings are not.
func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{
		"FLAGSTORM_TARGET_URL=http://127.0.0.1:8080", "FLAGSTORM_PROMETHEUS=http://p", "FLAGSTORM_TARGETURL=x",
		"FLAGSTORM_TEST_DATABASE_URL=postgres://", "FLAGSTORM_CHROMIUM=/usr/bin/chromium", "PATH=/usr/bin",
		"FLAGSTORM_TOXIPROXY_URL=http://toxiproxy:8474", "FLAGSTORM_TOXIPROXY=http://toxiproxy:8474", "FLAGSTORM_QUICK=1",
	})
	want := []string{"FLAGSTORM_TARGETURL", "FLAGSTORM_TOXIPROXY"}
	if !slices.Equal(got, want) {
		t.Errorf("UnknownEnv = %v, want %v", got, want)
	}
}
