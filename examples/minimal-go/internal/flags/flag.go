// Package flags is the service's domain: a feature flag, its PostgreSQL
// store, its Redis cache and the read-through/invalidate logic that joins
// them ([Service]).
package flags

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrNotFound is returned when a flag does not exist in an environment.
var ErrNotFound = errors.New("flags: flag not found")

// ErrInvalidPatch wraps every reason a PATCH body is refused.
var ErrInvalidPatch = errors.New("flags: invalid patch")

// Flag is one feature flag in one environment, as served over HTTP.
type Flag struct {
	Key               string `json:"key"`
	Environment       string `json:"environment"`
	Enabled           bool   `json:"enabled"`
	RolloutPercentage int    `json:"rolloutPercentage"`
	Description       string `json:"description"`
}

// Patch is a partial update: nil fields are left unchanged.
type Patch struct {
	Enabled           *bool   `json:"enabled"`
	RolloutPercentage *int    `json:"rolloutPercentage"`
	Description       *string `json:"description"`
}

// maxPatchBytes bounds a PATCH body.
const maxPatchBytes = 64 << 10

// DecodePatch reads one JSON object from r. Unknown fields, trailing data,
// an empty patch and a rollout outside 0..100 are errors wrapping
// [ErrInvalidPatch].
func DecodePatch(r io.Reader) (Patch, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxPatchBytes+1))
	if err != nil {
		return Patch{}, fmt.Errorf("%w: read body: %v", ErrInvalidPatch, err)
	}
	if len(body) > maxPatchBytes {
		return Patch{}, fmt.Errorf("%w: body larger than %d bytes", ErrInvalidPatch, maxPatchBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var p Patch
	if err := dec.Decode(&p); err != nil {
		return Patch{}, fmt.Errorf("%w: %v", ErrInvalidPatch, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Patch{}, fmt.Errorf("%w: data after the JSON object", ErrInvalidPatch)
	}
	switch {
	case p.Enabled == nil && p.RolloutPercentage == nil && p.Description == nil:
		return Patch{}, fmt.Errorf("%w: nothing to update (want enabled, rolloutPercentage or description)", ErrInvalidPatch)
	case p.RolloutPercentage != nil && (*p.RolloutPercentage < 0 || *p.RolloutPercentage > 100):
		return Patch{}, fmt.Errorf("%w: rolloutPercentage %d is not in 0..100", ErrInvalidPatch, *p.RolloutPercentage)
	}
	return p, nil
}
