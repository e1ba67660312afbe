package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The Grafana dashboards are written here, in Go, and rendered to
// grafana/dashboards/*.json (go test ./dashboards -run TestGenerated -update).
// Grafana provisions the JSON files; the tests read the same files. Panels
// are laid out left to right in rows of 24 columns.

// datasource is the dashboards' data source: a template variable whose
// default is the provisioned Prometheus (uid "prometheus",
// grafana/provisioning/datasources/prometheus.yml), so the files also
// import into another Grafana.
var datasource = map[string]string{"type": "prometheus", "uid": "${datasource}"}

// panel is one visualisation. Type is "timeseries" unless set.
type panel struct {
	Title, Description string
	Type               string // timeseries, stat, table, state-timeline; "row" for a section header
	Unit               string
	W, H               int // width in 1/24ths, height in grid units; default 12 x 8
	Targets            []target
	Mappings           []valueMapping
	Min, Max           *float64
	Stack              bool
	// Thresholds colour stat and state panels: value -> colour, ascending.
	Thresholds []step
}

type target struct {
	Expr, Legend string
	// Instant asks for one value now (tables and stats) rather than a range.
	Instant bool
}

type valueMapping struct {
	Value       string
	Text, Color string
}

type step struct {
	Value *float64
	Color string
}

func f(v float64) *float64 { return &v }

type dashboard struct {
	File, UID, Title, Description string
	Tags                          []string
	Variables                     []variable
	Annotations                   []annotation
	Panels                        []panel
}

// variable is a query variable over label values, multi-select with All
// (which matches every value: allValue ".*").
type variable struct {
	Name, Label, Query string // Query: label_values(metric{...}, label)
}

// annotation draws a Prometheus query's non-zero samples as regions.
type annotation struct {
	Name, Expr, Title, Text, TagKeys, Color string
}

func (d dashboard) render() ([]byte, error) {
	templating := []any{map[string]any{
		"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
		"current": map[string]any{"text": "Prometheus", "value": "prometheus"},
		"hide":    0, "refresh": 1, "regex": "", "options": []any{},
	}}
	for _, v := range d.Variables {
		templating = append(templating, map[string]any{
			"name": v.Name, "label": v.Label, "type": "query", "datasource": datasource,
			"definition": v.Query,
			"query":      map[string]any{"qryType": 1, "query": v.Query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
			"refresh":    2, "sort": 1, "multi": true, "includeAll": true, "allValue": ".*",
			"current": map[string]any{"text": []string{"All"}, "value": []string{"$__all"}},
			"hide":    0, "regex": "", "options": []any{},
		})
	}
	annotations := []any{map[string]any{
		"builtIn": 1, "datasource": map[string]string{"type": "grafana", "uid": "-- Grafana --"},
		"enable": true, "hide": true, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
	}}
	for _, a := range d.Annotations {
		annotations = append(annotations, map[string]any{
			"name": a.Name, "datasource": datasource, "enable": true, "hide": false, "iconColor": a.Color,
			"expr": a.Expr, "step": "1s", "titleFormat": a.Title, "textFormat": a.Text, "tagKeys": a.TagKeys,
			"useValueForTime": false,
		})
	}
	var panels []any
	x, y, rowH := 0, 0, 0
	for i, p := range d.Panels {
		w, h := p.W, p.H
		if p.Type == "row" {
			if x > 0 {
				y += rowH
			}
			panels = append(panels, map[string]any{
				"id": i + 1, "type": "row", "title": p.Title, "collapsed": false, "panels": []any{},
				"gridPos": map[string]int{"h": 1, "w": 24, "x": 0, "y": y},
			})
			x, y, rowH = 0, y+1, 0
			continue
		}
		if w == 0 {
			w = 12
		}
		if h == 0 {
			h = 8
		}
		if x+w > 24 {
			x, y, rowH = 0, y+rowH, 0
		}
		out, err := p.render(i+1, x, y, w, h)
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", d.UID, err)
		}
		panels = append(panels, out)
		x += w
		rowH = max(rowH, h)
	}
	doc := map[string]any{
		"uid": d.UID, "title": d.Title, "description": d.Description, "tags": d.Tags,
		"editable": false, "graphTooltip": 1, "schemaVersion": 41, "version": 1,
		"refresh": "5s", "time": map[string]string{"from": "now-30m", "to": "now"},
		"timepicker": map[string]any{}, "timezone": "browser", "fiscalYearStartMonth": 0,
		"liveNow": false, "links": []any{},
		"templating":  map[string]any{"list": templating},
		"annotations": map[string]any{"list": annotations},
		"panels":      panels,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (p panel) render(id, x, y, w, h int) (map[string]any, error) {
	typ := p.Type
	if typ == "" {
		typ = "timeseries"
	}
	if len(p.Targets) == 0 {
		return nil, fmt.Errorf("panel %q has no query", p.Title)
	}
	var targets []any
	for i, t := range p.Targets {
		legend := t.Legend
		if legend == "" {
			legend = "__auto"
		}
		targets = append(targets, map[string]any{
			"refId": string(rune('A' + i)), "datasource": datasource, "expr": t.Expr,
			"legendFormat": legend, "range": !t.Instant, "instant": t.Instant,
			"format": map[bool]string{true: "table", false: "time_series"}[t.Instant && typ == "table"],
		})
	}
	defaults := map[string]any{}
	if p.Unit != "" {
		defaults["unit"] = p.Unit
	}
	if p.Min != nil {
		defaults["min"] = *p.Min
	}
	if p.Max != nil {
		defaults["max"] = *p.Max
	}
	if len(p.Mappings) > 0 {
		opts := map[string]any{}
		for i, m := range p.Mappings {
			opts[m.Value] = map[string]any{"text": m.Text, "color": m.Color, "index": i}
		}
		defaults["mappings"] = []any{map[string]any{"type": "value", "options": opts}}
	}
	steps := []any{map[string]any{"value": nil, "color": "green"}}
	if len(p.Thresholds) > 0 {
		steps = nil
		for _, s := range p.Thresholds {
			var v any
			if s.Value != nil {
				v = *s.Value
			}
			steps = append(steps, map[string]any{"value": v, "color": s.Color})
		}
	}
	defaults["thresholds"] = map[string]any{"mode": "absolute", "steps": steps}
	options := map[string]any{}
	switch typ {
	case "timeseries":
		custom := map[string]any{"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": false}
		if p.Stack {
			custom["stacking"] = map[string]any{"mode": "normal", "group": "A"}
			custom["fillOpacity"] = 40
		}
		defaults["custom"] = custom
		defaults["color"] = map[string]any{"mode": "palette-classic"}
		options["legend"] = map[string]any{"displayMode": "table", "placement": "bottom", "showLegend": true, "calcs": []string{"mean", "max", "lastNotNull"}}
		options["tooltip"] = map[string]any{"mode": "multi", "sort": "desc"}
	case "state-timeline":
		defaults["color"] = map[string]any{"mode": "thresholds"}
		options["mergeValues"] = true
		options["showValue"] = "auto"
		options["legend"] = map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true}
	case "stat":
		defaults["color"] = map[string]any{"mode": "thresholds"}
		options["reduceOptions"] = map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}
		options["colorMode"] = "background"
		options["textMode"] = "value_and_name"
	case "table":
		defaults["color"] = map[string]any{"mode": "thresholds"}
		defaults["custom"] = map[string]any{"cellOptions": map[string]any{"type": "color-background"}}
		options["showHeader"] = true
	default:
		return nil, fmt.Errorf("panel %q: unknown type %q", p.Title, typ)
	}
	out := map[string]any{
		"id": id, "type": typ, "title": p.Title, "description": p.Description, "datasource": datasource,
		"gridPos": map[string]int{"h": h, "w": w, "x": x, "y": y},
		"targets": targets, "fieldConfig": map[string]any{"defaults": defaults, "overrides": []any{}},
		"options": options,
	}
	if typ == "table" {
		out["transformations"] = []any{
			map[string]any{"id": "organize", "options": map[string]any{"excludeByName": map[string]bool{"Time": true, "__name__": true}}},
		}
	}
	return out, nil
}
