package flags

// Result is a read's answer: the JSON document to send and where it came
// from. Body is shared with the caches and must not be modified.
type Result struct {
	Body   []byte
	Source Source
}

// List is the JSON document of an environment's flags, as served and cached.
type List struct {
	Environment string `json:"environment"`
	Flags       []Flag `json:"flags"`
}

// Readiness is the state of the service's backends.
type Readiness struct {
	// Database is nil when the store answered a ping.
	Database error
	// Cache is "disabled" (no Redis configured), "up", "down" or
	// "circuit-open". It never makes the service unready: the database
	// serves every read without it.
	Cache string
}
