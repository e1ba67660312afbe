package flags

import "hash/fnv"

// Evaluation is the answer to "is this flag on for this user?".
type Evaluation struct {
	Key         string `json:"key"`
	Environment string `json:"environment"`
	UserID      string `json:"userId"`
	Enabled     bool   `json:"enabled"`
	// Reason is "disabled" (the flag is off for everyone), "rollout" (the
	// user's bucket is inside the rollout percentage) or "excluded" (it is
	// not).
	Reason string `json:"reason"`
	// Bucket is the user's stable position in 0..99 for this flag.
	Bucket  int   `json:"bucket"`
	Version int64 `json:"version"`
}

// Bucket places a user in 0..99 for a flag: the FNV-1a 32-bit hash of
// "key:userID" modulo 100. It is stable across processes, restarts and
// versions, so a user stays in or out of a rollout as long as the
// percentage does not move past them, and raising the percentage only ever
// adds users.
func Bucket(key, userID string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	h.Write([]byte{':'})
	h.Write([]byte(userID))
	return int(h.Sum32() % 100)
}

// Evaluate decides f for a user.
func Evaluate(f Flag, userID string) Evaluation {
	e := Evaluation{Key: f.Key, Environment: f.Environment, UserID: userID, Bucket: Bucket(f.Key, userID), Version: f.Version}
	switch {
	case !f.Enabled:
		e.Reason = "disabled"
	case e.Bucket < f.RolloutPercentage:
		e.Enabled, e.Reason = true, "rollout"
	default:
		e.Reason = "excluded"
	}
	return e
}
