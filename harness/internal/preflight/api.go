package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// maxBody bounds how much of an answer is read.
const maxBody = 4 << 20

// api sends the contract's requests.
type api struct {
	hc    *http.Client
	base  string
	env   string
	token string
}

// auth values for api.do.
const (
	noToken    = "\x00none"
	wrongToken = "\x00wrong"
)

// answer is one response, or the transport error in its place.
type answer struct {
	status int // 0: no answer (err)
	body   []byte
	err    error
}

// String describes the answer for a Problem.
func (a answer) String() string {
	if a.err != nil {
		return "no answer (" + a.err.Error() + ")"
	}
	return fmt.Sprintf("%d %.120q", a.status, a.body)
}

func (c api) listPath() string {
	return "/api/config/flags?environment=" + url.QueryEscape(c.env)
}

func (c api) flagPath(key string) string {
	return "/api/config/flags/" + url.PathEscape(key) + "?environment=" + url.QueryEscape(c.env)
}

// do sends one request bounded by RequestTimeout. auth is noToken,
// wrongToken or "" (the admin token); body, when not nil, is sent as JSON.
func (c api) do(ctx context.Context, method, path, auth string, body any) answer {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return answer{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	switch auth {
	case noToken:
	case wrongToken:
		req.Header.Set("Authorization", "Bearer flagstorm-preflight-wrong-"+c.token)
	default:
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return answer{status: resp.StatusCode, err: fmt.Errorf("read the body of a %d answer: %w", resp.StatusCode, err)}
	}
	return answer{status: resp.StatusCode, body: b}
}

func (c api) get(ctx context.Context, key string) answer {
	return c.do(ctx, http.MethodGet, c.flagPath(key), noToken, nil)
}

func (c api) list(ctx context.Context) answer {
	return c.do(ctx, http.MethodGet, c.listPath(), noToken, nil)
}

// patch writes enabled (and, when field is not "", the nonce into field).
func (c api) patch(ctx context.Context, key, auth string, enabled bool, field, nonce string) answer {
	body := map[string]any{"enabled": enabled}
	if field != "" {
		body[field] = nonce
	}
	return c.do(ctx, http.MethodPatch, c.flagPath(key), auth, body)
}

// flag is a flag object as decoded from JSON, field by field.
type flag map[string]json.RawMessage

func decodeFlag(b []byte) (flag, error) {
	var f flag
	if err := json.Unmarshal(b, &f); err != nil || f == nil {
		return nil, fmt.Errorf("not a JSON object: %.120q", b)
	}
	return f, nil
}

// decodeList accepts {"flags": [...]} or a bare array.
func decodeList(b []byte) ([]flag, error) {
	var wrapped struct {
		Flags *[]flag `json:"flags"`
	}
	if err := json.Unmarshal(b, &wrapped); err == nil && wrapped.Flags != nil {
		return *wrapped.Flags, nil
	}
	var bare []flag
	if err := json.Unmarshal(b, &bare); err == nil && bare != nil {
		return bare, nil
	}
	return nil, fmt.Errorf(`neither {"flags": [flag, ...]} nor a JSON array of flag objects: %.120q`, b)
}

func (f flag) str(name string) (string, bool) {
	var s string
	raw, ok := f[name]
	return s, ok && json.Unmarshal(raw, &s) == nil
}

func (f flag) boolean(name string) (bool, bool) {
	var v bool
	raw, ok := f[name]
	return v, ok && json.Unmarshal(raw, &v) == nil
}

// version reads name as an integer, as the oracle does.
func (f flag) version(name string) (int64, bool) {
	var v int64
	raw, ok := f[name]
	return v, ok && json.Unmarshal(raw, &v) == nil
}

// shape returns what is wrong with f as a flag of key and env ("" for any
// key), or "".
func (f flag) shape(key, env string) string {
	k, ok := f.str("key")
	switch {
	case !ok:
		return `no string "key"`
	case key != "" && k != key:
		return fmt.Sprintf(`"key" is %q, want %q`, k, key)
	}
	if e, ok := f.str("environment"); !ok {
		return `no string "environment"`
	} else if e != env {
		return fmt.Sprintf(`"environment" is %q, want %q`, e, env)
	}
	if _, ok := f.boolean("enabled"); !ok {
		return `no boolean "enabled"`
	}
	return ""
}

// raw returns the field's JSON text (at most 60 bytes), or "absent".
func (f flag) raw(name string) string {
	raw, ok := f[name]
	if !ok {
		return "absent"
	}
	return fmt.Sprintf("%.60s", raw)
}
