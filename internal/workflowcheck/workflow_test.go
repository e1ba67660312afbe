package workflowcheck

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const workflowPath = "../../.github/workflows/resilience.yml"

// workflow is the part of a GitHub Actions workflow the test checks.
type workflow struct {
	Name string `yaml:"name"`
	On   struct {
		Schedule []struct {
			Cron string `yaml:"cron"`
		} `yaml:"schedule"`
		WorkflowDispatch *yaml.Node `yaml:"workflow_dispatch"`
	} `yaml:"on"`
	Jobs map[string]struct {
		RunsOn         string `yaml:"runs-on"`
		TimeoutMinutes int    `yaml:"timeout-minutes"`
		Steps          []step `yaml:"steps"`
	} `yaml:"jobs"`
}

type step struct {
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	If   string            `yaml:"if"`
	With map[string]string `yaml:"with"`
}

func load(t *testing.T) workflow {
	t.Helper()
	data, err := os.ReadFile(workflowPath)
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("%s: %v", workflowPath, err)
	}
	if len(w.Jobs) == 0 {
		t.Fatalf("%s: no jobs", workflowPath)
	}
	return w
}

// makeTargets are the targets the Makefile defines.
func makeTargets(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	re := regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+)\s*:([^=]|$)`)
	for _, m := range re.FindAllStringSubmatch(string(data), -1) {
		out[m[1]] = true
	}
	return out
}

// makeGoals returns the goals of every make command in a run script:
// commands are split at ;, &&, || and |, and of a command whose first word
// is make (after sudo or VAR=value), the words that are neither options
// nor VAR=value.
func makeGoals(script string) []string {
	var goals []string
	sep := regexp.MustCompile(`&&|\|\||;|\|`)
	for line := range strings.SplitSeq(script, "\n") {
		line, _, _ = strings.Cut(line, "#")
		for _, cmd := range sep.Split(line, -1) {
			words := strings.Fields(cmd)
			for len(words) > 0 && (words[0] == "sudo" || strings.Contains(words[0], "=")) {
				words = words[1:]
			}
			if len(words) == 0 || words[0] != "make" {
				continue
			}
			for i := 1; i < len(words); i++ {
				w := words[i]
				switch {
				case w == "-C" || w == "-f" || w == "-j" || w == "-o":
					i++ // the option's argument
				case strings.HasPrefix(w, "-"), strings.Contains(w, "="):
				default:
					goals = append(goals, w)
				}
			}
		}
	}
	return goals
}

func TestMakeGoals(t *testing.T) {
	for _, tt := range []struct {
		script string
		want   []string
	}{
		{"make loadtest", []string{"loadtest"}},
		{"cd x && make -j2 build test TEST_TIMEOUT=20m", []string{"build", "test"}},
		{"echo make-believe # make nothing", nil},
		{"sudo apt-get install make", nil},
	} {
		if got := makeGoals(tt.script); !slices.Equal(got, tt.want) {
			t.Errorf("makeGoals(%q) = %q, want %q", tt.script, got, tt.want)
		}
	}
}

func TestWorkflowCallsOnlyMakeTargetsThatExist(t *testing.T) {
	w := load(t)
	targets := makeTargets(t)
	var called []string
	for job, j := range w.Jobs {
		for i, s := range j.Steps {
			for _, g := range makeGoals(s.Run) {
				called = append(called, g)
				if !targets[g] {
					t.Errorf("jobs.%s.steps[%d] (%s) runs make %s: the Makefile has no such target", job, i, s.Name, g)
				}
			}
		}
	}
	if !slices.Contains(called, "loadtest") {
		t.Errorf("the workflow never runs make loadtest (make targets called: %v)", called)
	}
}

func TestWorkflowIsScheduled(t *testing.T) {
	w := load(t)
	if len(w.On.Schedule) == 0 {
		t.Fatal("on.schedule is empty: the suite must run nightly")
	}
	for i, s := range w.On.Schedule {
		if f := strings.Fields(s.Cron); len(f) != 5 || f[2] != "*" || f[3] != "*" || f[4] != "*" {
			t.Errorf("on.schedule[%d].cron %q: want a daily cron, five fields ending in * * *", i, s.Cron)
		}
	}
	if w.On.WorkflowDispatch == nil {
		t.Error("no workflow_dispatch: the suite cannot be run by hand")
	}
}

func TestWorkflowInstallsDependenciesAndGo(t *testing.T) {
	w := load(t)
	goMod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	for job, j := range w.Jobs {
		var apt, goSet bool
		for _, s := range j.Steps {
			if strings.Contains(s.Run, "apt-get install") {
				apt = true
				for _, pkg := range []string{"redis-server", "postgresql", "prometheus", "prometheus-pushgateway", "wrk", "hey"} {
					if !regexp.MustCompile(`\s` + regexp.QuoteMeta(pkg) + `(\s|$)`).MatchString(s.Run) {
						t.Errorf("jobs.%s: apt-get install lacks %s", job, pkg)
					}
				}
			}
			if strings.HasPrefix(s.Uses, "actions/setup-go@") {
				goSet = true
				if goVersion == nil || s.With["go-version"] != string(goVersion[1]) {
					t.Errorf("jobs.%s: setup-go go-version %q, want go.mod's %q", job, s.With["go-version"], goVersion[1])
				}
			}
		}
		if !apt || !goSet {
			t.Errorf("jobs.%s: apt-get install %v, actions/setup-go %v; want both", job, apt, goSet)
		}
	}
}

func TestWorkflowUploadsReportsAlways(t *testing.T) {
	w := load(t)
	for job, j := range w.Jobs {
		suite, upload := -1, -1
		for i, s := range j.Steps {
			if slices.Contains(makeGoals(s.Run), "loadtest") {
				suite = i
			}
			if strings.HasPrefix(s.Uses, "actions/upload-artifact@") {
				upload = i
				if cond := strings.TrimSpace(strings.Trim(strings.TrimSpace(s.If), "${}")); cond != "always()" {
					t.Errorf("jobs.%s.steps[%d]: upload if %q; want always(), so a failing suite still uploads its reports", job, i, s.If)
				}
				if p := strings.TrimSuffix(s.With["path"], "/"); p != "out" {
					t.Errorf("jobs.%s.steps[%d]: uploads %q, want out/ (summary.json, junit.xml, report.html, index.html)", job, i, s.With["path"])
				}
			}
		}
		if suite < 0 {
			continue
		}
		if upload < suite {
			t.Errorf("jobs.%s: no upload-artifact step after make loadtest (suite step %d, upload step %d)", job, suite, upload)
		}
		if j.TimeoutMinutes <= 0 {
			t.Errorf("jobs.%s: no timeout-minutes: a hung run would hold a runner for 6 h", job)
		}
	}
}
