package composecheck

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// Files of the topology, relative to the repository root.
const (
	composeFile         = "docker-compose.yml"
	dockerfilePath      = "harness/Dockerfile"
	dockerignore        = ".dockerignore"
	toxiproxyConfig     = "toxics/toxiproxy.json"
	prometheusConfig    = "dashboards/prometheus/prometheus.yml"
	prometheusRules     = "dashboards/prometheus/rules/*.yml"
	grafanaProvisioning = "dashboards/grafana/provisioning"
)

// stack is everything the checks look at, loaded from one repository root.
type stack struct {
	root string
	// project has every profile active, so it holds every service.
	project *types.Project
	// defaults is what a plain "docker compose up" sees: no profile, and the
	// project name from the file itself.
	defaults *types.Project
	proxies  []proxy
	stages   []stage
	// ignored are the patterns of .dockerignore.
	ignored []string
	// toxiproxyVersion is the Toxiproxy module version in go.mod ("2.12.0").
	toxiproxyVersion string
	prometheus       promConfig
	datasources      []datasource
	providers        []dashboardProvider
}

// loadStack loads and parses every file of the topology under root; env is
// the whole environment compose interpolates from (the OS environment and
// any .env file are ignored, so the result does not depend on the machine).
// An error means a file is missing or does not parse, and names it.
func loadStack(ctx context.Context, root string, env []string) (*stack, error) {
	s := &stack{root: root}
	var err error
	var errs []error
	if s.project, err = loadProject(ctx, root, env, cli.WithName(projectName), cli.WithProfiles([]string{"*"})); err != nil {
		errs = append(errs, err)
	} else if s.defaults, err = loadProject(ctx, root, env); err != nil {
		errs = append(errs, err)
	}
	if s.proxies, err = loadProxies(filepath.Join(root, toxiproxyConfig)); err != nil {
		errs = append(errs, err)
	}
	if s.stages, err = loadDockerfile(filepath.Join(root, dockerfilePath)); err != nil {
		errs = append(errs, err)
	}
	if s.ignored, err = loadDockerignore(filepath.Join(root, dockerignore)); err != nil {
		errs = append(errs, err)
	}
	if s.toxiproxyVersion, err = moduleVersion(filepath.Join(root, "go.mod"), "github.com/Shopify/toxiproxy/v2"); err != nil {
		errs = append(errs, err)
	}
	if err := loadYAML(root, prometheusConfig, &s.prometheus); err != nil {
		errs = append(errs, err)
	}
	if s.datasources, s.providers, err = loadProvisioning(root); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// loadProject loads docker-compose.yml the way "docker compose" would from
// root: variables interpolated (an unset ${X:?} fails), relative paths
// resolved against root, references between services checked.
func loadProject(ctx context.Context, root string, env []string, opts ...cli.ProjectOptionsFn) (*types.Project, error) {
	opts = append([]cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(root),
		cli.WithEnv(env),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
	}, opts...)
	o, err := cli.NewProjectOptions([]string{filepath.Join(root, composeFile)}, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: compose options: %w", composeFile, err)
	}
	p, err := o.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", composeFile, err)
	}
	return p, nil
}

// proxy is one entry of toxiproxy.json, the file toxiproxy-server -config reads.
type proxy struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  *bool  `json:"enabled"`
}

func loadProxies(path string) ([]proxy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // Toxiproxy ignores a misspelt field; we do not.
	var proxies []proxy
	if err := dec.Decode(&proxies); err != nil {
		return nil, fmt.Errorf("%s: want a JSON array of {name, listen, upstream, enabled}: %w", toxiproxyConfig, err)
	}
	return proxies, nil
}

// stage is one FROM ... [AS name] section of a Dockerfile.
type stage struct {
	name   string // "" when unnamed
	base   string // image or stage name, ARG defaults substituted
	line   int
	instrs []instruction
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: RUN, COPY, ENV...
	args string
}

// loadDockerfile splits a Dockerfile into stages. It understands what this
// repository's Dockerfile uses: comments, line continuations, global ARG
// defaults in FROM lines, and FROM [--platform=...] image [AS name].
func loadDockerfile(path string) ([]stage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	args := map[string]string{}
	var stages []stage
	var buf strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && buf.Len() == 0) {
			continue
		}
		if buf.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			buf.WriteString(cont + " ")
			continue
		}
		buf.WriteString(line)
		text := buf.String()
		buf.Reset()
		cmd, rest, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(rest)}
		switch {
		case in.cmd == "FROM":
			st, err := parseFrom(in, args)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", dockerfilePath, in.line, err)
			}
			stages = append(stages, st)
		case len(stages) == 0 && in.cmd == "ARG":
			if k, v, ok := strings.Cut(in.args, "="); ok {
				args[k] = strings.Trim(v, `"`)
			}
		case len(stages) == 0:
			return nil, fmt.Errorf("%s:%d: %s before the first FROM", dockerfilePath, in.line, in.cmd)
		default:
			stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", dockerfilePath, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s: no FROM line", dockerfilePath)
	}
	return stages, nil
}

var argRef = regexp.MustCompile(`\$\{?(\w+)\}?`)

func parseFrom(in instruction, args map[string]string) (stage, error) {
	var f []string
	for _, w := range strings.Fields(in.args) {
		if !strings.HasPrefix(w, "--") {
			f = append(f, w)
		}
	}
	st := stage{line: in.line}
	switch {
	case len(f) == 1:
	case len(f) == 3 && strings.EqualFold(f[1], "AS"):
		st.name = f[2]
	default:
		return stage{}, fmt.Errorf("want FROM image [AS name], got %q", "FROM "+in.args)
	}
	st.base = argRef.ReplaceAllStringFunc(f[0], func(ref string) string {
		return args[argRef.FindStringSubmatch(ref)[1]]
	})
	return st, nil
}

// loadDockerignore returns the patterns of a .dockerignore file, comments
// and blank lines dropped.
func loadDockerignore(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pats []string
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			pats = append(pats, line)
		}
	}
	return pats, nil
}

// moduleVersion returns the version go.mod requires of module, without the v.
func moduleVersion(gomod, module string) (string, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == module {
			return strings.TrimPrefix(f[1], "v"), nil
		}
	}
	return "", fmt.Errorf("go.mod: no requirement on %s", module)
}

// promConfig is the part of prometheus.yml the checks read.
type promConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
	} `yaml:"global"`
	RuleFiles     []string       `yaml:"rule_files"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type scrapeConfig struct {
	JobName       string `yaml:"job_name"`
	MetricsPath   string `yaml:"metrics_path"`
	StaticConfigs []struct {
		Targets []string `yaml:"targets"`
	} `yaml:"static_configs"`
}

type datasource struct {
	file string
	Name string `yaml:"name"`
	UID  string `yaml:"uid"`
	Type string `yaml:"type"`
	URL  string `yaml:"url"`
}

type dashboardProvider struct {
	file    string
	Name    string `yaml:"name"`
	Type    string `yaml:"type"`
	Options struct {
		Path string `yaml:"path"`
	} `yaml:"options"`
}

// loadYAML decodes the YAML file rel (relative to root) into v.
func loadYAML(root, rel string, v any) error {
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return nil
}

// loadProvisioning reads Grafana's datasources/*.y*ml and dashboards/*.y*ml
// under root's provisioning folder.
func loadProvisioning(root string) ([]datasource, []dashboardProvider, error) {
	var dss []datasource
	var provs []dashboardProvider
	files, err := globRel(root, grafanaProvisioning+"/datasources/*.y*ml")
	if err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		var doc struct {
			Datasources []datasource `yaml:"datasources"`
		}
		if err := loadYAML(root, f, &doc); err != nil {
			return nil, nil, err
		}
		for _, d := range doc.Datasources {
			d.file = f
			dss = append(dss, d)
		}
	}
	if files, err = globRel(root, grafanaProvisioning+"/dashboards/*.y*ml"); err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		var doc struct {
			Providers []dashboardProvider `yaml:"providers"`
		}
		if err := loadYAML(root, f, &doc); err != nil {
			return nil, nil, err
		}
		for _, p := range doc.Providers {
			p.file = f
			provs = append(provs, p)
		}
	}
	return dss, provs, nil
}

// globRel returns the files matching pattern under root, relative to root.
func globRel(root, pattern string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pattern)))
	if err != nil {
		return nil, err
	}
	for i, f := range files {
		if files[i], err = filepath.Rel(root, f); err != nil {
			return nil, err
		}
	}
	return files, nil
}
