package cli

import (
	"slices"
	"testing"
)

// TestFlagNames: every command's flags can be listed without running it,
// so the environment given to flagstorm elsewhere can be checked.
func TestFlagNames(t *testing.T) {
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
