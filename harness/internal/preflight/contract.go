package preflight

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
)

// The fixes, one per kind of failure.
const (
	fixReady = "answer 200 on the readiness path (ready: in the target description, default /readyz) once the service can serve requests"
	fixList  = `answer GET /api/config/flags?environment=E with 200 and {"flags": [flag, ...]} (or a bare JSON array) of flag objects, each with "key", "environment" and a boolean "enabled"`
	fixGet   = `answer GET /api/config/flags/{key}?environment=E with 200 and the flag object: "key", "environment", a boolean "enabled" and the oracle field`
	fixSeed  = "seed the flags the scenarios use before the run (seed: in the target description), or name seeded ones"
	fix404   = "answer 404 for a flag key that does not exist (not 200 with a default, not 500)"
	fixAuth  = "refuse a PATCH without `Authorization: Bearer <admin token>`, or with a wrong token, with 401 (or 403): flagstorm checks that only it writes"
	fixToken = "accept `Authorization: Bearer <token>` with the token flagstorm passes to the service ({{admin_token}}, usually as ADMIN_TOKEN)"
	fixPatch = `answer PATCH /api/config/flags/{key}?environment=E with body {"enabled": bool} and a valid bearer token with 200 and the flag as written`
	fixBack  = "make a write visible before answering 200 to it (update or invalidate the cache first): a GET right after a PATCH must return that write"
)

func (c *checker) fixField() string {
	if c.t.Nonce {
		return fmt.Sprintf("store the string a PATCH writes into %q and return it in the PATCH's answer and in later GETs; or name another writable string field as the oracle's nonce", c.t.Field)
	}
	return fmt.Sprintf("return %q as an integer the service increments with every write, in GET and PATCH answers; a service without one names a writable string field as a nonce instead (oracle: {nonce: field})", c.t.Field)
}

// readiness reports whether the service answered at all.
func (c *checker) readiness(ctx context.Context) bool {
	c.rep.checked("readiness")
	a := c.api.do(ctx, http.MethodGet, c.t.Ready, noToken, nil)
	if a.err != nil && a.status == 0 {
		c.rep.problem("readiness", fmt.Sprintf("GET %s: %v", c.t.Ready, a), fixReady+"; is the service running at "+c.api.base+"?")
		return false
	}
	if a.status != http.StatusOK {
		c.rep.problem("readiness", fmt.Sprintf("GET %s answered %v, want 200", c.t.Ready, a), fixReady)
	}
	return true
}

func (c *checker) list(ctx context.Context) {
	if !c.t.Uses.List {
		c.rep.skip("list (not used by the scenarios)")
		return
	}
	const item = "list"
	c.rep.checked(item)
	path := c.api.listPath()
	a := c.api.list(ctx)
	if a.status != http.StatusOK {
		c.rep.problem(item, fmt.Sprintf("GET %s answered %v, want 200", path, a), fixList)
		return
	}
	fs, err := decodeList(a.body)
	if err != nil {
		c.rep.problem(item, fmt.Sprintf("GET %s: %v", path, err), fixList)
		return
	}
	found := false
	for i, f := range fs {
		if s := f.shape("", c.t.Environment); s != "" {
			c.rep.problem(item, fmt.Sprintf("GET %s: flag %d of the list: %s", path, i, s), fixList)
			return
		}
		k, _ := f.str("key")
		c.keys = appendNew(c.keys, k)
		if k == c.t.Flag {
			found = true
			c.enabled, _ = f.boolean("enabled")
			c.enabledKnown = true
		}
	}
	if !found {
		c.rep.problem(item, fmt.Sprintf("GET %s: %d flags, none of them %q", path, len(fs), c.t.Flag), fixSeed)
	}
}

func (c *checker) get(ctx context.Context) {
	if !c.t.Uses.Get {
		c.rep.skip("get, unknown key (GET of one flag not used by the scenarios)")
		return
	}
	const item = "get"
	c.rep.checked(item)
	for _, key := range appendNew([]string{c.t.Flag}, c.t.Flags...) {
		path := c.api.flagPath(key)
		a := c.api.get(ctx, key)
		switch {
		case a.status == http.StatusNotFound:
			c.rep.problem(item, fmt.Sprintf("GET %s answered 404: the flag is not seeded", path), fixSeed)
			continue
		case a.status != http.StatusOK:
			c.rep.problem(item, fmt.Sprintf("GET %s answered %v, want 200", path, a), fixGet)
			continue
		}
		f, err := decodeFlag(a.body)
		if err != nil {
			c.rep.problem(item, fmt.Sprintf("GET %s: %v", path, err), fixGet)
			continue
		}
		if s := f.shape(key, c.t.Environment); s != "" {
			c.rep.problem(item, fmt.Sprintf("GET %s: %s", path, s), fixGet)
			continue
		}
		if key != c.t.Flag {
			continue
		}
		c.enabled, _ = f.boolean("enabled")
		c.enabledKnown = true
		c.rep.checked("field")
		if c.t.Nonce {
			if _, present := f[c.t.Field]; present {
				if _, ok := f.str(c.t.Field); !ok {
					c.rep.problem("field", fmt.Sprintf("GET %s: %q is %s, want a string (the nonce field)", path, c.t.Field, f.raw(c.t.Field)), c.fixField())
				}
			}
			continue
		}
		v, ok := f.version(c.t.Field)
		if !ok {
			c.rep.problem("field", fmt.Sprintf("GET %s: %q is %s, want an integer version", path, c.t.Field, f.raw(c.t.Field)), c.fixField())
			continue
		}
		c.version, c.versionKnown = v, true
	}
}

func (c *checker) unknownKey(ctx context.Context) {
	if !c.t.Uses.Get {
		return // said in get's skip
	}
	const item = "unknown key"
	c.rep.checked(item)
	key := "flagstorm-preflight-no-such-flag-" + strings.ToLower(rand.Text())
	a := c.api.get(ctx, key)
	if a.status != http.StatusNotFound {
		c.rep.problem(item, fmt.Sprintf("GET %s answered %v, want 404", c.api.flagPath(key), a), fix404)
	}
}

// learnEnabled reads Flag's "enabled" when neither list nor get did, so
// that PATCHes write back the value it has.
func (c *checker) learnEnabled(ctx context.Context) {
	if c.enabledKnown {
		return
	}
	if f, _ := c.read(ctx, c.t.Flag); f != nil {
		c.enabled, c.enabledKnown = f.boolean("enabled")
	}
}

func (c *checker) patch(ctx context.Context) {
	if !c.t.Uses.Patch {
		c.rep.skip("patch auth, patch, write read back (PATCH not used by the scenarios)")
		return
	}
	c.learnEnabled(ctx)
	path := c.api.flagPath(c.t.Flag)

	c.rep.checked("patch auth")
	for _, try := range []struct{ auth, what string }{
		{noToken, "without a token"},
		{wrongToken, "with a wrong token"},
	} {
		a := c.api.patch(ctx, c.t.Flag, try.auth, c.enabled, "", "")
		switch a.status {
		case http.StatusUnauthorized, http.StatusForbidden:
		case http.StatusOK:
			c.rep.problem("patch auth", fmt.Sprintf("PATCH %s %s answered 200: anyone can write", path, try.what), fixAuth)
		default:
			c.rep.problem("patch auth", fmt.Sprintf("PATCH %s %s answered %v, want 401 or 403", path, try.what, a), fixAuth)
		}
	}

	field, nonce := "", ""
	if c.t.Nonce {
		field, nonce = c.t.Field, "flagstorm-preflight-"+strings.ToLower(rand.Text())
	}
	a := c.api.patch(ctx, c.t.Flag, "", c.enabled, field, nonce)
	switch {
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		c.rep.problem("patch auth", fmt.Sprintf("PATCH %s with the admin token answered %v", path, a), fixToken)
		return
	case a.status != http.StatusOK:
		c.rep.checked("patch")
		c.rep.problem("patch", fmt.Sprintf("PATCH %s with the admin token answered %v, want 200", path, a), fixPatch)
		return
	}
	c.rep.checked("patch")
	f, err := decodeFlag(a.body)
	if err != nil {
		c.rep.problem("patch", fmt.Sprintf("PATCH %s: the 200's body is %v", path, err), fixPatch)
		return
	}
	if s := f.shape(c.t.Flag, c.t.Environment); s != "" {
		c.rep.problem("patch", fmt.Sprintf("PATCH %s: the 200's flag has %s", path, s), fixPatch)
		return
	}
	if e, _ := f.boolean("enabled"); e != c.enabled {
		c.rep.problem("patch", fmt.Sprintf(`PATCH %s wrote "enabled": %v and answered %v`, path, c.enabled, e), fixPatch)
	}

	c.rep.checked("field")
	var version int64
	if c.t.Nonce {
		if got, _ := f.str(field); got != nonce {
			c.rep.problem("field", fmt.Sprintf("PATCH %s wrote %q into %q and answered %s", path, nonce, field, f.raw(field)), c.fixField())
			return
		}
	} else {
		v, ok := f.version(c.t.Field)
		switch {
		case !ok:
			c.rep.problem("field", fmt.Sprintf("PATCH %s: the 200's %q is %s, want an integer version", path, c.t.Field, f.raw(c.t.Field)), c.fixField())
			return
		case c.versionKnown && v <= c.version:
			c.rep.problem("field", fmt.Sprintf("PATCH %s: %q was %d before the write and is %d in its answer: it did not grow", path, c.t.Field, c.version, v), c.fixField())
			return
		}
		version = v
	}

	if !c.t.Uses.Get && !c.t.Uses.List {
		c.rep.skip("write read back (no read used by the scenarios)")
		return
	}
	const item = "write read back"
	c.rep.checked(item)
	back, got := c.read(ctx, c.t.Flag)
	if back == nil {
		c.rep.problem(item, "the read right after the PATCH: "+got, fixBack)
		return
	}
	if c.t.Nonce {
		if s, _ := back.str(field); s != nonce {
			c.rep.problem(item, fmt.Sprintf("PATCH wrote %q into %q; the read right after returned %s", nonce, field, back.raw(field)), fixBack)
		}
		return
	}
	if v, ok := back.version(c.t.Field); !ok || v < version {
		c.rep.problem(item, fmt.Sprintf("PATCH answered %q %d; the read right after returned %s", c.t.Field, version, back.raw(c.t.Field)), fixBack)
	}
}

// read returns key's flag by GET (or from the list when the scenarios do
// not GET single flags), or nil and what went wrong.
func (c *checker) read(ctx context.Context, key string) (flag, string) {
	if c.t.Uses.Get || !c.t.Uses.List {
		a := c.api.get(ctx, key)
		if a.status != http.StatusOK {
			return nil, fmt.Sprintf("GET %s answered %v", c.api.flagPath(key), a)
		}
		f, err := decodeFlag(a.body)
		if err != nil {
			return nil, fmt.Sprintf("GET %s: %v", c.api.flagPath(key), err)
		}
		return f, ""
	}
	a := c.api.list(ctx)
	if a.status != http.StatusOK {
		return nil, fmt.Sprintf("GET %s answered %v", c.api.listPath(), a)
	}
	fs, err := decodeList(a.body)
	if err != nil {
		return nil, fmt.Sprintf("GET %s: %v", c.api.listPath(), err)
	}
	for _, f := range fs {
		if k, _ := f.str("key"); k == key {
			return f, ""
		}
	}
	return nil, fmt.Sprintf("GET %s: no flag %q", c.api.listPath(), key)
}
