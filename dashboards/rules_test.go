package dashboards

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRulesCheck runs promtool check rules on every rule file (syntax,
// expressions, templates in annotations, duplicate names).
func TestRulesCheck(t *testing.T) {
	promtool := needPromtool(t)
	files, err := RuleFiles()
	if err != nil || len(files) == 0 {
		t.Fatalf("rule files: %v (found %d)", err, len(files))
	}
	args := []string{"check", "rules"}
	for _, f := range files {
		args = append(args, filepath.FromSlash(f))
	}
	out, err := exec.CommandContext(t.Context(), promtool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool check rules:\n%s", out)
}

// TestRulesUnit runs the promtool unit tests in prometheus/rules/tests:
// the recording rules' values on known input series, and the burn-rate
// alerts firing, not firing and resolving as the SLO comments say.
func TestRulesUnit(t *testing.T) {
	promtool := needPromtool(t)
	tests, err := filepath.Glob(filepath.Join("prometheus", "rules", "tests", "*.yml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("rule tests: %v (found %d)", err, len(tests))
	}
	out, err := exec.CommandContext(t.Context(), promtool, append([]string{"test", "rules"}, tests...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", strings.Join(tests, " "), err, out)
	}
	t.Logf("promtool test rules:\n%s", out)
}

// TestEveryRuleIsUnitTested: each recording rule's output and each alert
// appears in a promtool test file.
func TestEveryRuleIsUnitTested(t *testing.T) {
	tests, err := filepath.Glob(filepath.Join("prometheus", "rules", "tests", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	groups, err := RuleGroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			name := r.Record + r.Alert
			if !strings.Contains(all.String(), name) {
				t.Errorf("%s: %s is in no promtool test (prometheus/rules/tests)", g.File, name)
			}
		}
	}
}
