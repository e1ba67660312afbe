package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flagstorm/flagstorm/internal/metric"
	"github.com/flagstorm/flagstorm/toxics"
)

// Limits on what Parse reads.
const (
	// maxFileSize bounds a scenario file.
	maxFileSize = 1 << 20
	// maxNodes bounds the nodes Parse visits, aliases expanded: yaml.v3
	// accepts an alias inside its own anchor, and nested aliases expand
	// exponentially.
	maxNodes = 1 << 16
)

// Load reads and parses the scenario file at path.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a scenario file; filename is used in
// errors. Decoding is strict: unknown keys, duplicate keys, values of the
// wrong type and durations without a unit are errors. Parse reports every
// problem at once, errors.Join of *ValidationError sorted by position, and
// then returns no Spec. The returned Spec has every default filled in.
func Parse(filename string, data []byte) (*Spec, error) {
	fail := func(line, col int, format string, args ...any) (*Spec, error) {
		return nil, joinSorted([]*ValidationError{{File: filename, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}})
	}
	if len(data) > maxFileSize {
		return fail(0, 0, "file is %d bytes long; a scenario file has at most %d", len(data), maxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(0, 0, "empty file: a scenario needs at least name, load and requests")
		}
		line, msg := yamlError(err)
		return fail(line, 0, "%s", msg)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return fail(next.Line, next.Column, "more than one YAML document: write one scenario per file")
	case !errors.Is(err, io.EOF):
		line, msg := yamlError(err)
		return fail(line, 0, "%s", msg)
	}

	d := &decoder{file: filename, pos: map[string]position{}, keys: map[string]*yaml.Node{}, bad: map[string]bool{}, budget: maxNodes}
	s := d.spec(&doc)
	errs := d.errs
	if !d.stop {
		errs = append(errs, s.validate(d.bad)...)
	}
	if err := joinSorted(errs); err != nil {
		return nil, err
	}
	return s, nil
}

var yamlErrorRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError splits yaml.v3's "yaml: line 3: msg" into the line and the
// message.
func yamlError(err error) (int, string) {
	msg := err.Error()
	if m := yamlErrorRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, "invalid YAML: " + m[2]
	}
	return 0, "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")
}

// decoder walks the yaml.Node tree: strict, recording where every value
// is, collecting every problem.
type decoder struct {
	file   string
	errs   []*ValidationError
	pos    map[string]position
	keys   map[string]*yaml.Node // the key node of each field fields decoded
	bad    map[string]bool       // fields already reported, so Validate keeps quiet
	budget int
	spent  bool // the budget is spent
	stop   bool // nothing to validate: the budget is spent or the document is not a mapping
}

func (d *decoder) fail(n *yaml.Node, field, format string, args ...any) {
	e := &ValidationError{File: d.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
	d.bad[field] = true
}

// node follows aliases and charges the budget; nil once it is spent.
func (d *decoder) node(n *yaml.Node) *yaml.Node {
	at := n
	for n != nil && n.Kind == yaml.AliasNode && d.budget > 0 {
		n = n.Alias
		d.budget--
	}
	d.budget--
	if d.budget < 0 || n == nil {
		if !d.spent {
			d.spent, d.stop = true, true
			d.fail(at, "", "the document is too large or expands too many aliases (at most %d values)", maxNodes)
		}
		return nil
	}
	return n
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// record notes where the value of path is.
func (d *decoder) record(path string, n *yaml.Node) {
	if n != nil {
		d.pos[path] = position{n.Line, n.Column}
	}
}

// pair is one entry of a mapping; val is not resolved.
type pair struct {
	name     string
	key, val *yaml.Node
}

// pairs returns the entries of the mapping n in order, with merge keys
// (<<: *anchor) expanded, reporting duplicate keys. ok is false if n is
// not a mapping.
func (d *decoder) pairs(n *yaml.Node, path string) (out []pair, ok bool) {
	if n = d.node(n); n == nil {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping (key: value), got %s", describe(n))
		return nil, false
	}
	seen := map[string]int{}
	var merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.node(n.Content[i]), n.Content[i+1]
		switch {
		case k == nil:
			return out, true
		case k.Kind != yaml.ScalarNode:
			d.fail(k, path, "a key must be a plain string, not %s", describe(k))
			continue
		case k.ShortTag() == "!!merge":
			merged = append(merged, d.merge(v, path)...)
			continue
		}
		if j, dup := seen[k.Value]; dup {
			d.fail(k, join(path, k.Value), "key %q appears twice (first on line %d)", k.Value, out[j].key.Line)
			continue
		}
		seen[k.Value] = len(out)
		out = append(out, pair{k.Value, k, v})
	}
	// Explicit keys win over merged ones, earlier merges over later ones.
	for _, p := range merged {
		if _, dup := seen[p.name]; !dup {
			seen[p.name] = len(out)
			out = append(out, p)
		}
	}
	return out, true
}

// merge returns the entries a merge key brings in.
func (d *decoder) merge(v *yaml.Node, path string) []pair {
	r := d.node(v)
	if r == nil {
		return nil
	}
	switch r.Kind {
	case yaml.MappingNode:
		ps, _ := d.pairs(r, path)
		return ps
	case yaml.SequenceNode:
		var out []pair
		for _, item := range r.Content {
			if it := d.node(item); it != nil && it.Kind == yaml.MappingNode {
				ps, _ := d.pairs(it, path)
				out = append(out, ps...)
				continue
			}
			d.fail(item, path, "<< merges a mapping or a list of mappings")
		}
		return out
	}
	d.fail(v, path, "<< merges a mapping or a list of mappings, not %s", describe(r))
	return nil
}

// fields decodes a mapping with a fixed set of keys: unknown keys are
// errors that list the valid ones (hints may explain a key that belongs
// elsewhere). It records each value's position and returns the values by
// key, or nil if n is not a mapping.
func (d *decoder) fields(n *yaml.Node, path string, valid []string, hints map[string]hint) map[string]*yaml.Node {
	ps, ok := d.pairs(n, path)
	if !ok {
		return nil
	}
	out := make(map[string]*yaml.Node, len(ps))
	present := make(map[string]bool, len(ps))
	for _, p := range ps {
		present[p.name] = true
	}
	// An absent key that a misspelt one stands for counts as reported:
	// "vus: required" would only repeat the misspelling.
	standsFor := func(key string) {
		if key != "" && !present[key] {
			d.bad[join(path, key)] = true
		}
	}
	for _, p := range ps {
		field := join(path, p.name)
		if !contains(valid, p.name) {
			if h, ok := hints[p.name]; ok {
				d.fail(p.key, field, "unknown key %q: %s", p.name, h.msg)
				standsFor(h.means)
			} else {
				d.fail(p.key, field, "%s", unknownKey(p.name, valid))
				standsFor(suggest(p.name, valid))
			}
			continue
		}
		d.record(field, p.val)
		d.keys[field] = p.key
		out[p.name] = p.val
	}
	return out
}

// hint explains an unknown key that belongs elsewhere or is written
// differently; means is the valid key it stands for, if any.
type hint struct{ msg, means string }

// unknownKey says a key is not one of valid, suggesting the nearest.
func unknownKey(key string, valid []string) string {
	if near := suggest(key, valid); near != "" {
		return fmt.Sprintf("unknown key %q: did you mean %s? (valid keys: %s)", key, near, strings.Join(valid, ", "))
	}
	return fmt.Sprintf("unknown key %q (valid keys: %s)", key, strings.Join(valid, ", "))
}

// suggest returns the candidate that s most likely misspells, or "": the
// same letters in another case or with underscores (rate_kbps for
// rateKBps), else one within edit distance 2, else one that is a prefix
// of s or that s is a prefix of.
func suggest(s string, candidates []string) string {
	squash := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	for _, c := range candidates {
		if squash(c) == squash(s) {
			return c
		}
	}
	best, bestD := "", 3
	for _, c := range candidates {
		if d := metric.EditDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" && len(s) >= 4 {
		// abortOnFailure for abortOnFail, environment for environments
		for _, c := range candidates {
			if strings.HasPrefix(c, s) || strings.HasPrefix(s, c) && len(c) >= 4 {
				return c
			}
		}
	}
	return best
}

// describe names what a node is, for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return strconv.Quote(truncate(n.Value, 40))
		}
		return truncate(n.Value, 40)
	}
	return "an unexpected value"
}

// scalar resolves n to a non-null scalar.
func (d *decoder) scalar(n *yaml.Node, path, want string) *yaml.Node {
	r := d.node(n)
	switch {
	case r == nil:
		return nil
	case r.Kind != yaml.ScalarNode:
		d.fail(n, path, "want %s, got %s", want, describe(r))
		return nil
	case r.ShortTag() == "!!null":
		d.fail(n, path, "no value: want %s", want)
		return nil
	}
	return r
}

// str decodes a string; numbers and booleans are not strings here.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	r := d.scalar(n, path, "a string")
	if r == nil {
		return "", false
	}
	if r.ShortTag() != "!!str" {
		d.fail(n, path, "want a string, got %s (quote it if it is meant as text)", describe(r))
		return "", false
	}
	return r.Value, true
}

// text decodes free text: any scalar, as written.
func (d *decoder) text(n *yaml.Node, path string) (string, bool) {
	r := d.scalar(n, path, "text")
	if r == nil {
		return "", false
	}
	return r.Value, true
}

// integer decodes a whole number.
func (d *decoder) integer(n *yaml.Node, path string) (int, bool) {
	r := d.scalar(n, path, "a whole number")
	if r == nil {
		return 0, false
	}
	var v int
	if r.ShortTag() != "!!int" || r.Decode(&v) != nil {
		d.fail(n, path, "want a whole number, got %s", describe(r))
		return 0, false
	}
	return v, true
}

// number decodes a finite number.
func (d *decoder) number(n *yaml.Node, path string) (float64, bool) {
	r := d.scalar(n, path, "a number")
	if r == nil {
		return 0, false
	}
	var v float64
	if t := r.ShortTag(); t != "!!int" && t != "!!float" || r.Decode(&v) != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.fail(n, path, "want a number, got %s", describe(r))
		return 0, false
	}
	return v, true
}

// boolean decodes true or false.
func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	r := d.scalar(n, path, "true or false")
	if r == nil {
		return false, false
	}
	var v bool
	if r.ShortTag() != "!!bool" || r.Decode(&v) != nil {
		d.fail(n, path, "want true or false, got %s", describe(r))
		return false, false
	}
	return v, true
}

// duration decodes a non-negative Go duration, "20s", "1m30s", "500ms".
// Bare numbers are rejected: k6 reads them as milliseconds, people mean
// seconds.
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	r := d.scalar(n, path, "a duration such as 20s")
	if r == nil {
		return 0, false
	}
	if f, err := strconv.ParseFloat(r.Value, 64); err == nil || r.ShortTag() == "!!int" || r.ShortTag() == "!!float" {
		hint := "20s"
		if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && f >= 0 && f < 1e12 {
			hint = strconv.FormatFloat(f, 'f', -1, 64) + "s"
		}
		d.fail(n, path, "bare number %s is not a duration: give it a unit, write %s", r.Value, hint)
		return 0, false
	}
	if r.ShortTag() != "!!str" {
		d.fail(n, path, "want a duration such as 20s, got %s", describe(r))
		return 0, false
	}
	v, err := time.ParseDuration(r.Value)
	switch {
	case err != nil:
		d.fail(n, path, "%q is not a duration: write one such as 20s, 1m30s or 500ms", truncate(r.Value, 40))
		return 0, false
	case v < 0:
		d.fail(n, path, "must not be negative, got %v", v)
		return 0, false
	}
	return v, true
}

// list resolves a sequence.
func (d *decoder) list(n *yaml.Node, path string, want string) ([]*yaml.Node, bool) {
	r := d.node(n)
	if r == nil {
		return nil, false
	}
	if r.Kind != yaml.SequenceNode {
		d.fail(n, path, "want a list of %s, got %s", want, describe(r))
		return nil, false
	}
	return r.Content, true
}

// strs decodes a list of strings, recording where each is.
func (d *decoder) strs(n *yaml.Node, path string) ([]string, bool) {
	items, ok := d.list(n, path, "strings")
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		p := index(path, i)
		d.record(p, it)
		if v, ok := d.str(it, p); ok {
			out = append(out, v)
		}
	}
	return out, true
}

var topKeys = []string{
	"name", "description", "profile", "instances", "memoryCacheTTL", "target", "load", "scenarios",
	"requestTimeout", "data", "requests", "timeline", "thresholds", "expect",
}

func (d *decoder) spec(doc *yaml.Node) *Spec {
	s := &Spec{
		File:           d.file,
		Profile:        ProfileHardened,
		Instances:      1,
		RequestTimeout: DefaultRequestTimeout,
		Data:           DefaultDataPools(),
		Timeline:       []Phase{{Name: DefaultPhase}},
		pos:            d.pos,
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	d.record("", root)
	if r := d.node(root); r != nil && r.Kind == yaml.ScalarNode && r.ShortTag() == "!!null" {
		d.fail(root, "", "empty document: a scenario needs at least name, load and requests")
		d.stop = true
		return s
	}
	f := d.fields(root, "", topKeys, nil)
	if f == nil {
		d.stop = true
		return s
	}
	if n := f["name"]; n != nil {
		s.Name, _ = d.str(n, "name")
	}
	if n := f["description"]; n != nil {
		s.Description, _ = d.text(n, "description")
	}
	if n := f["profile"]; n != nil {
		if v, ok := d.str(n, "profile"); ok {
			p, err := ParseProfile(v)
			if err != nil {
				d.fail(n, "profile", "%v", err)
			}
			s.Profile = p
		}
	}
	if n := f["instances"]; n != nil {
		s.Instances, _ = d.integer(n, "instances")
	}
	if n := f["memoryCacheTTL"]; n != nil {
		if v, ok := d.duration(n, "memoryCacheTTL"); ok {
			s.MemoryCacheTTL = &v
		}
	}
	if n := f["target"]; n != nil {
		if tf := d.fields(n, "target", []string{"start"}, nil); tf != nil {
			if v := tf["start"]; v != nil {
				s.Target.Start, _ = d.str(v, "target.start")
			}
		}
	}
	if n := f["requestTimeout"]; n != nil {
		s.RequestTimeout, _ = d.duration(n, "requestTimeout")
	}
	switch load, scen := f["load"], f["scenarios"]; {
	case load != nil && scen != nil:
		d.fail(scen, "scenarios", "write either load: (one executor) or scenarios: (several in parallel), not both")
		fallthrough
	case load != nil:
		sc := d.scenario(load, "load", DefaultScenario, false)
		sc.Line = d.keys["load"].Line
		s.Scenarios = []Scenario{sc}
	case scen != nil:
		s.Scenarios = d.scenarios(scen)
	}
	if n := f["data"]; n != nil {
		d.data(n, &s.Data)
	}
	if n := f["requests"]; n != nil {
		s.Requests = d.requests(n)
	}
	if n := f["timeline"]; n != nil {
		s.Timeline = d.timeline(n)
	}
	if n := f["thresholds"]; n != nil {
		s.Thresholds = d.thresholds(n)
	}
	if n := f["expect"]; n != nil {
		s.Expect = d.expect(n)
	}
	return s
}

// scenarioKeys are the keys of load:, in the order messages list them;
// entries of scenarios: also take entryKeys.
var (
	scenarioKeys = []string{
		"executor", "vus", "duration", "startVUs", "stages", "gracefulRampDown", "gracefulStop",
		"rate", "timeUnit", "preAllocatedVUs", "maxVUs", "startRate",
	}
	entryKeys   = append(append([]string(nil), scenarioKeys...), "startTime", "requests")
	loadOnlyFor = map[string]hint{
		"startTime": {msg: "startTime belongs to an entry of scenarios:, where several executors run"},
		"requests":  {msg: "this is load:, where every request runs; to restrict requests, use scenarios: with requests: [names]"},
	}
)

func (d *decoder) scenarios(n *yaml.Node) []Scenario {
	ps, ok := d.pairs(n, "scenarios")
	if !ok {
		return nil
	}
	out := make([]Scenario, 0, len(ps))
	for _, p := range ps {
		path := join("scenarios", p.name)
		d.record(path, p.val)
		sc := d.scenario(p.val, path, p.name, true)
		sc.Line = p.key.Line
		out = append(out, sc)
	}
	return out
}

func (d *decoder) scenario(n *yaml.Node, path, name string, entry bool) Scenario {
	sc := Scenario{Name: name}
	var f map[string]*yaml.Node
	if entry {
		f = d.fields(n, path, entryKeys, nil)
	} else {
		f = d.fields(n, path, scenarioKeys, loadOnlyFor)
	}
	if f == nil {
		return sc
	}
	if v := f["executor"]; v != nil {
		if s, ok := d.str(v, join(path, "executor")); ok {
			e, err := ParseExecutor(s)
			if err != nil {
				d.fail(v, join(path, "executor"), "%v", err)
			}
			sc.Executor = e
		}
	}
	ints := []struct {
		key string
		dst *int
	}{
		{"vus", &sc.VUs}, {"startVUs", &sc.StartVUs}, {"rate", &sc.Rate},
		{"preAllocatedVUs", &sc.PreAllocatedVUs}, {"maxVUs", &sc.MaxVUs}, {"startRate", &sc.StartRate},
	}
	for _, o := range ints {
		if v := f[o.key]; v != nil {
			*o.dst, _ = d.integer(v, join(path, o.key))
		}
	}
	durs := []struct {
		key string
		dst *time.Duration
	}{
		{"duration", &sc.Duration}, {"timeUnit", &sc.TimeUnit}, {"startTime", &sc.StartTime},
		{"gracefulStop", &sc.GracefulStop}, {"gracefulRampDown", &sc.GracefulRampDown},
	}
	for _, o := range durs {
		if v := f[o.key]; v != nil {
			*o.dst, _ = d.duration(v, join(path, o.key))
		}
	}
	// k6's 0s means no grace; the harness's zero means the default.
	if f["gracefulStop"] != nil && sc.GracefulStop == 0 && !d.bad[join(path, "gracefulStop")] {
		sc.GracefulStop = -1
	}
	if f["gracefulRampDown"] != nil && sc.GracefulRampDown == 0 && !d.bad[join(path, "gracefulRampDown")] {
		sc.GracefulRampDown = -1
	}
	if sc.Executor == RampingVUs && f["startVUs"] == nil {
		sc.StartVUs = 1 // k6's default
	}
	if v := f["stages"]; v != nil {
		sp := join(path, "stages")
		if items, ok := d.list(v, sp, "stages such as {duration: 10s, target: 50}"); ok {
			sc.Stages = make([]Stage, 0, len(items))
			for i, it := range items {
				ip := index(sp, i)
				d.record(ip, it)
				var st Stage
				if sf := d.fields(it, ip, []string{"duration", "target"}, nil); sf != nil {
					if x := sf["duration"]; x != nil {
						st.Duration, _ = d.duration(x, join(ip, "duration"))
					}
					if x := sf["target"]; x != nil {
						st.Target, _ = d.integer(x, join(ip, "target"))
					}
				}
				sc.Stages = append(sc.Stages, st)
			}
		}
	}
	if v := f["requests"]; v != nil {
		sc.Requests, _ = d.strs(v, join(path, "requests"))
	}
	return sc
}

var poolKeys = []string{"prefix", "count", "pad"}

func (d *decoder) data(n *yaml.Node, pools *DataPools) {
	f := d.fields(n, "data", []string{"environments", "flags", "users"}, nil)
	if f == nil {
		return
	}
	if v := f["environments"]; v != nil {
		if envs, ok := d.strs(v, "data.environments"); ok {
			pools.Environments = envs
		}
	}
	if v := f["flags"]; v != nil {
		d.pool(v, "data.flags", &pools.Flags)
	}
	if v := f["users"]; v != nil {
		d.pool(v, "data.users", &pools.Users)
	}
}

// pool decodes a list of values or a generator {prefix, count, pad}; an
// absent pad keeps the default pool's.
func (d *decoder) pool(n *yaml.Node, path string, p *Pool) {
	r := d.node(n)
	if r == nil {
		return
	}
	if r.Kind == yaml.SequenceNode {
		if vs, ok := d.strs(n, path); ok {
			*p = Pool{Values: vs}
		}
		return
	}
	if r.Kind != yaml.MappingNode {
		d.fail(n, path, "want a list of values or {prefix: ..., count: N}, got %s", describe(r))
		return
	}
	f := d.fields(r, path, poolKeys, nil)
	if f == nil {
		return
	}
	out := Pool{Pad: p.Pad}
	if v := f["prefix"]; v != nil {
		out.Prefix, _ = d.text(v, join(path, "prefix"))
	}
	if v := f["count"]; v != nil {
		out.Count, _ = d.integer(v, join(path, "count"))
	}
	if v := f["pad"]; v != nil {
		out.Pad, _ = d.integer(v, join(path, "pad"))
	}
	*p = out
}

var requestKeys = []string{"name", "weight", "method", "path", "body", "headers", "expect"}

func (d *decoder) requests(n *yaml.Node) []Request {
	items, ok := d.list(n, "requests", "requests such as {name: get, method: GET, path: /api/...}")
	if !ok {
		return nil
	}
	out := make([]Request, 0, len(items))
	for i, it := range items {
		path := index("requests", i)
		d.record(path, it)
		r := Request{Weight: 1, Line: it.Line}
		f := d.fields(it, path, requestKeys, nil)
		if f == nil {
			out = append(out, r)
			continue
		}
		if v := f["name"]; v != nil {
			r.Name, _ = d.str(v, join(path, "name"))
		}
		if v := f["weight"]; v != nil {
			r.Weight, _ = d.integer(v, join(path, "weight"))
		}
		if v := f["method"]; v != nil {
			r.Method, _ = d.str(v, join(path, "method"))
		}
		if v := f["path"]; v != nil {
			r.Path, _ = d.text(v, join(path, "path"))
		}
		if v := f["body"]; v != nil {
			r.Body, _ = d.text(v, join(path, "body"))
		}
		if v := f["headers"]; v != nil {
			hp := join(path, "headers")
			if ps, ok := d.pairs(v, hp); ok {
				r.Headers = make(map[string]string, len(ps))
				for _, p := range ps {
					fp := join(hp, p.name)
					d.record(fp, p.val)
					if t, ok := d.text(p.val, fp); ok {
						r.Headers[p.name] = t
					}
				}
			}
		}
		if v := f["expect"]; v != nil {
			ep := join(path, "expect")
			if items, ok := d.list(v, ep, "status codes such as [200, 412]"); ok {
				for j, st := range items {
					sp := index(ep, j)
					d.record(sp, st)
					if code, ok := d.integer(st, sp); ok {
						r.Expect = append(r.Expect, code)
					}
				}
			}
		}
		out = append(out, r)
	}
	return out
}

var (
	phaseKeys = []string{"phase", "at", "for", "fault", "action", "rejoin"}
	phaseHint = map[string]hint{
		"proxy": {msg: "a fault's proxy goes inside fault: {proxy: redis, type: ...}; actions act on the Redis primary and take no proxy"},
		"type":  {msg: "a fault's type goes inside fault: {proxy: redis, type: ...}"},
		"name":  {msg: "a phase is named by phase:", means: "phase"},
	}
	faultKeys = []string{
		"proxy", "type", "direction", "toxicity", "latency", "jitter", "timeout",
		"rateKBps", "averageSize", "sizeVariation", "sliceDelay", "bytes", "closeDelay",
	}
	faultHint = map[string]hint{"kind": {msg: "write the fault's kind as type:", means: "type"}}
)

func (d *decoder) timeline(n *yaml.Node) []Phase {
	items, ok := d.list(n, "timeline", "phases such as {phase: steady, at: 0s}")
	if !ok {
		return nil
	}
	out := make([]Phase, 0, len(items))
	for i, it := range items {
		path := index("timeline", i)
		d.record(path, it)
		p := Phase{Line: it.Line}
		f := d.fields(it, path, phaseKeys, phaseHint)
		if f == nil {
			out = append(out, p)
			continue
		}
		if v := f["phase"]; v != nil {
			p.Name, _ = d.str(v, join(path, "phase"))
		}
		if v := f["at"]; v != nil {
			p.At, _ = d.duration(v, join(path, "at"))
		}
		if v := f["for"]; v != nil {
			p.For, _ = d.duration(v, join(path, "for"))
		}
		if v := f["action"]; v != nil {
			if s, ok := d.str(v, join(path, "action")); ok {
				a, err := ParseAction(s)
				if err != nil {
					d.fail(v, join(path, "action"), "%v", err)
				}
				p.Action = a
			}
		}
		if v := f["rejoin"]; v != nil {
			p.Rejoin, _ = d.boolean(v, join(path, "rejoin"))
		}
		if v := f["fault"]; v != nil {
			p.Fault = d.fault(v, join(path, "fault"))
		}
		out = append(out, p)
	}
	return out
}

func (d *decoder) fault(n *yaml.Node, path string) *toxics.Fault {
	fs := &toxics.Fault{}
	f := d.fields(n, path, faultKeys, faultHint)
	if f == nil {
		return fs
	}
	if v := f["proxy"]; v != nil {
		fs.Proxy, _ = d.str(v, join(path, "proxy"))
	}
	if v := f["type"]; v != nil {
		if s, ok := d.str(v, join(path, "type")); ok && s != "" {
			k, err := toxics.ParseKind(s)
			if err != nil {
				d.fail(v, join(path, "type"), "%s", fieldMsg(err))
			}
			fs.Kind = k
		}
	}
	if v := f["direction"]; v != nil {
		if s, ok := d.str(v, join(path, "direction")); ok {
			dir, err := toxics.ParseDirection(s)
			if err != nil {
				d.fail(v, join(path, "direction"), "%s", fieldMsg(err))
			}
			fs.Direction = dir
		}
	}
	if v := f["toxicity"]; v != nil {
		fs.Toxicity, _ = d.number(v, join(path, "toxicity"))
	}
	durs := []struct {
		key string
		dst *time.Duration
	}{
		{"latency", &fs.Latency}, {"jitter", &fs.Jitter}, {"timeout", &fs.Timeout},
		{"sliceDelay", &fs.SliceDelay}, {"closeDelay", &fs.CloseDelay},
	}
	for _, o := range durs {
		if v := f[o.key]; v != nil {
			*o.dst, _ = d.duration(v, join(path, o.key))
		}
	}
	ints := []struct {
		key string
		dst *int
	}{{"rateKBps", &fs.RateKBps}, {"averageSize", &fs.AverageSize}, {"sizeVariation", &fs.SizeVariation}}
	for _, o := range ints {
		if v := f[o.key]; v != nil {
			*o.dst, _ = d.integer(v, join(path, o.key))
		}
	}
	if v := f["bytes"]; v != nil {
		b, _ := d.integer(v, join(path, "bytes"))
		fs.Bytes = int64(b)
	}
	return fs
}

// fieldMsg is a toxics parse error's message, without its field.
func fieldMsg(err error) string {
	var fe *toxics.FieldError
	if errors.As(err, &fe) {
		return fe.Msg
	}
	return err.Error()
}

var thresholdKeys = []string{"threshold", "abortOnFail", "delayAbortEval"}

func (d *decoder) thresholds(n *yaml.Node) []ThresholdSpec {
	ps, ok := d.pairs(n, "thresholds")
	if !ok {
		return nil
	}
	out := make([]ThresholdSpec, 0, len(ps))
	for _, p := range ps {
		path := join("thresholds", p.name)
		d.record(path, p.key)
		t := ThresholdSpec{Key: p.name, Line: p.key.Line}
		r := d.node(p.val)
		if r != nil && r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
			d.fail(p.val, path, "want a list of expressions: write [%q]", truncate(r.Value, 40))
			out = append(out, t)
			continue
		}
		items, ok := d.list(p.val, path, `expressions such as ["p(95)<50"]`)
		if !ok {
			out = append(out, t)
			continue
		}
		t.Exprs = make([]ThresholdExpr, 0, len(items))
		for i, it := range items {
			ip := index(path, i)
			d.record(ip, it)
			e := ThresholdExpr{Line: it.Line}
			r := d.node(it)
			if r != nil && r.Kind == yaml.MappingNode {
				if f := d.fields(r, ip, thresholdKeys, nil); f != nil {
					if v := f["threshold"]; v != nil {
						e.Text, _ = d.str(v, join(ip, "threshold"))
					} else {
						d.fail(it, ip, `no threshold: write {threshold: "p(95)<50", abortOnFail: true}`)
					}
					if v := f["abortOnFail"]; v != nil {
						e.AbortOnFail, _ = d.boolean(v, join(ip, "abortOnFail"))
					}
					if v := f["delayAbortEval"]; v != nil {
						e.DelayAbortEval, _ = d.duration(v, join(ip, "delayAbortEval"))
					}
				}
			} else if r != nil {
				if r.Kind != yaml.ScalarNode {
					d.fail(it, ip, `want an expression such as "p(95)<50" or {threshold: "p(95)<50", abortOnFail: true}, got %s`, describe(r))
				} else {
					e.Text, _ = d.str(it, ip)
				}
			}
			t.Exprs = append(t.Exprs, e)
		}
		out = append(out, t)
	}
	return out
}

func (d *decoder) expect(n *yaml.Node) map[string][]ExpectedFailure {
	ps, ok := d.pairs(n, "expect")
	if !ok {
		return nil
	}
	out := map[string][]ExpectedFailure{}
	for _, p := range ps {
		path := join("expect", p.name)
		d.record(path, p.val)
		if p.name == ProfileBoth.String() || !validName(p.name) {
			d.fail(p.key, path, "expectations are per target: a profile (hardened or seed) or a variant of a target description, not %q", p.name)
			continue
		}
		items, ok := d.list(p.val, path, `thresholds such as "http_req_duration{phase:outage} p(95)<50"`)
		if !ok {
			continue
		}
		list := make([]ExpectedFailure, 0, len(items))
		for i, it := range items {
			ip := index(path, i)
			d.record(ip, it)
			may := false
			if it.Kind == yaml.MappingNode {
				// {may: "threshold"}: it may fail or pass.
				if len(it.Content) != 2 || it.Content[0].Value != "may" {
					d.fail(it, ip, `a threshold ("http_req_duration p(95)<50"), or {may: "..."} for one that may fail or pass`)
					continue
				}
				may, it = true, it.Content[1]
				ip = join(ip, "may")
				d.record(ip, it)
			}
			if t, ok := d.str(it, ip); ok {
				list = append(list, ExpectedFailure{Text: t, May: may, Line: it.Line})
			}
		}
		out[p.name] = list
	}
	return out
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
