// Package secret keeps passwords and tokens out of what flagstorm prints
// and logs: URLs with their passwords masked ([URL]), known secrets masked
// in free text ([Hide]), whether a URL carries one at all ([InURL], for a
// warning when it is given in argv), and secrets read from files
// ([ReadFile]).
package secret

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Mask replaces a secret wherever flagstorm prints or logs it.
const Mask = "xxxxx"

// minLen is the shortest secret Hide masks: a shorter one would mask
// unrelated text (and is no secret worth the name).
const minLen = 4

// URL returns raw with its secrets masked: the password of its userinfo
// (scheme://user:xxxxx@host, or scheme://:xxxxx@host for Redis) and the
// values of query parameters that hold one (password, sslpassword,
// token, ...: see [isSecretParam]). Text that is not a URL comes back
// as it is. It never fails and never re-encodes the rest of the URL.
func URL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		if name, _, hasPass := strings.Cut(authority[:at], ":"); hasPass {
			authority = name + ":" + Mask + authority[at:]
		}
	}
	path, query, hasQuery := strings.Cut(tail, "?")
	if !hasQuery {
		return scheme + "://" + authority + tail
	}
	query, fragment, hasFragment := strings.Cut(query, "#")
	params := strings.Split(query, "&")
	for i, p := range params {
		if k, _, hasValue := strings.Cut(p, "="); hasValue && isSecretParam(k) {
			params[i] = k + "=" + Mask
		}
	}
	out := scheme + "://" + authority + path + "?" + strings.Join(params, "&")
	if hasFragment {
		out += "#" + fragment
	}
	return out
}

// URLs returns each of urls masked by [URL].
func URLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = URL(u)
	}
	return out
}

// isSecretParam reports whether a query parameter holds a secret:
// password, sslpassword, passwd, pwd, secret, token, access_token, auth
// (any case; a parameter name that contains password, secret or token).
func isSecretParam(k string) bool {
	k, _ = url.QueryUnescape(k)
	k = strings.ToLower(k)
	switch k {
	case "pwd", "passwd", "auth":
		return true
	}
	for _, s := range []string{"password", "secret", "token"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// InURL returns the secrets a URL carries: the password of its userinfo
// and the values of its secret query parameters ([URL] masks the same).
// None for text that is not a URL.
func InURL(raw string) []string {
	if !strings.Contains(raw, "://") {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// A malformed URL still carries its password, and the parser's
		// error quotes the whole URL: take userinfo's password by hand.
		rest := raw[strings.Index(raw, "://")+3:]
		if end := strings.IndexAny(rest, "/?#"); end >= 0 {
			rest = rest[:end]
		}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, p, ok := strings.Cut(rest[:at], ":"); ok && p != "" {
				return []string{p}
			}
		}
		return nil
	}
	var out []string
	if p, ok := u.User.Password(); ok && p != "" {
		out = append(out, p)
	}
	for k, vs := range u.Query() {
		if isSecretParam(k) {
			for _, v := range vs {
				if v != "" {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// Hide returns text with every secret given replaced by [Mask], and every
// secret carried by a URL given among them too (a database URL stands for
// its password). Empty secrets, and those shorter than 4 bytes, are left
// alone.
func Hide(text string, secrets ...string) string {
	var all []string
	for _, s := range secrets {
		all = append(all, s)
		for _, p := range InURL(s) {
			// As written in the URL (percent-encoded) and decoded.
			all = append(all, p, url.QueryEscape(p), url.PathEscape(p), url.UserPassword("", p).String()[1:])
		}
	}
	for _, s := range all {
		if len(s) >= minLen && !strings.Contains(s, "://") {
			text = strings.ReplaceAll(text, s, Mask)
		}
	}
	return text
}

// ReadFile reads a secret from a file: its content without the trailing
// newline (one line; a file of several lines, or an empty one, is an
// error). A file that other users may read is not refused (it may be a
// mounted Kubernetes secret), but the caller may warn: worldReadable
// says so.
func ReadFile(path string) (value string, worldReadable bool, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", false, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false, err
	}
	s := strings.TrimRight(string(b), "\r\n")
	switch {
	case s == "":
		return "", false, fmt.Errorf("%s is empty", path)
	case strings.ContainsAny(s, "\r\n"):
		return "", false, errors.New(path + " holds more than one line: want the secret alone")
	}
	return s, st.Mode().Perm()&0o044 != 0, nil
}
