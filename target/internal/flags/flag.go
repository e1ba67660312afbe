// Package flags is the domain of the reference flag server: what a flag is,
// how it is read through the caches and written to its store, and how it is
// evaluated for a user. It imports no storage or cache library; adapters in
// sibling packages implement Store and Cache.
package flags

import (
	"fmt"
	"time"
)

// Flag is one feature flag in one environment. Version increases by one on
// every update: it is what lets a reader tell how stale its copy is.
type Flag struct {
	Key               string    `json:"key"`
	Environment       string    `json:"environment"`
	Enabled           bool      `json:"enabled"`
	RolloutPercentage int       `json:"rolloutPercentage"`
	Description       string    `json:"description"`
	Version           int64     `json:"version"`
	UpdatedAt         time.Time `json:"updatedAt"`
}

// Patch is a partial update: nil fields are left as they are.
type Patch struct {
	Enabled           *bool   `json:"enabled,omitempty"`
	RolloutPercentage *int    `json:"rolloutPercentage,omitempty"`
	Description       *string `json:"description,omitempty"`
}

// MaxDescriptionLen bounds a description, in bytes.
const MaxDescriptionLen = 1024

// Empty reports whether the patch changes nothing.
func (p Patch) Empty() bool {
	return p.Enabled == nil && p.RolloutPercentage == nil && p.Description == nil
}

// Validate checks the values of a patch; the error names the field.
func (p Patch) Validate() error {
	if p.Empty() {
		return &FieldError{Field: "", Msg: "patch sets no field; send at least one of enabled, rolloutPercentage, description"}
	}
	if p.RolloutPercentage != nil && (*p.RolloutPercentage < 0 || *p.RolloutPercentage > 100) {
		return &FieldError{Field: "rolloutPercentage", Msg: fmt.Sprintf("must be between 0 and 100, got %d", *p.RolloutPercentage)}
	}
	if p.Description != nil && len(*p.Description) > MaxDescriptionLen {
		return &FieldError{Field: "description", Msg: fmt.Sprintf("must be at most %d bytes, got %d", MaxDescriptionLen, len(*p.Description))}
	}
	return nil
}

// Apply returns f with the patch applied. Version and UpdatedAt are the
// store's to set.
func (p Patch) Apply(f Flag) Flag {
	if p.Enabled != nil {
		f.Enabled = *p.Enabled
	}
	if p.RolloutPercentage != nil {
		f.RolloutPercentage = *p.RolloutPercentage
	}
	if p.Description != nil {
		f.Description = *p.Description
	}
	return f
}

// FieldError is a client's mistake in one field of a request.
type FieldError struct {
	Field string // JSON name of the field or query parameter; "" for the whole body
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// The patterns below are checked with byte loops: they run on every
// request, and a regexp costs twenty times as much (see flag_test.go for
// the equivalence with the regular expressions they implement).

// ValidKey reports whether key is a well-formed flag key,
// ^[a-z0-9][a-z0-9._-]{0,127}$, so that nothing a client sends can reshape
// a Redis key.
func ValidKey(key string) bool {
	if len(key) == 0 || len(key) > 128 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// ValidEnvironment reports whether env is a well-formed environment name,
// ^[a-z][a-z0-9-]{0,31}$.
func ValidEnvironment(env string) bool {
	if len(env) == 0 || len(env) > 32 {
		return false
	}
	for i := 0; i < len(env); i++ {
		c := env[i]
		switch {
		case 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= c && c <= '9' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// ValidUserID reports whether id is a well-formed user identifier,
// ^[A-Za-z0-9._@:-]{1,128}$.
func ValidUserID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == '@' || c == ':' || c == '-':
		default:
			return false
		}
	}
	return true
}

// Source says where a response's data came from. It is sent to clients as the
// X-Flag-Source header, and the harness splits its measurements by it.
type Source uint8

const (
	SourceRedis      Source = iota + 1 // Redis cache hit
	SourceDB                           // cache miss, read from the database
	SourceDBFallback                   // Redis failed or its circuit is open, read from the database
	SourceMemory                       // in-process cache hit
	SourceStale                        // database failed too; served an expired in-process copy
)

var sourceNames = [...]string{
	SourceRedis:      "redis",
	SourceDB:         "db",
	SourceDBFallback: "db-fallback",
	SourceMemory:     "memory",
	SourceStale:      "stale",
}

func (s Source) String() string {
	if int(s) < len(sourceNames) && sourceNames[s] != "" {
		return sourceNames[s]
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

// ParseSource is the inverse of Source.String.
func ParseSource(s string) (Source, error) {
	for i, n := range sourceNames {
		if n != "" && n == s {
			return Source(i), nil
		}
	}
	return 0, fmt.Errorf("flags: unknown source %q (want redis, db, db-fallback, memory or stale)", s)
}

// Sources lists every source, in declaration order.
func Sources() []Source {
	return []Source{SourceRedis, SourceDB, SourceDBFallback, SourceMemory, SourceStale}
}

// CacheKey is the Redis key of one flag: feature_flags:{environment}:{flagKey}.
func CacheKey(env, key string) string { return "feature_flags:" + env + ":" + key }

// ListCacheKey is the Redis key of an environment's flag list: feature_flags:{environment}.
func ListCacheKey(env string) string { return "feature_flags:" + env }
