package run

import (
	"crypto/rand"
	"encoding/hex"
)

// InvalidError is a problem with the input: the scenario file, the target
// description, or a plan the target cannot carry out. The CLI exits 2.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// randomToken is a fresh admin token for a stack the harness starts.
func randomToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
