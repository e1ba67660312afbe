package httpapi

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/flagstorm/flagstorm/target/internal/flags"
)

func TestAppendEvaluationMatchesEncodingJSON(t *testing.T) {
	for _, e := range []flags.Evaluation{
		{},
		{Key: "checkout", Environment: "prod", UserID: "user-42@example.com:x", Enabled: true, Reason: "rollout", Bucket: 99, Version: math.MaxInt64},
		{Key: "a.b_c-d", Environment: "dev", UserID: "U", Reason: "disabled", Bucket: -1, Version: -3},
		{Key: `a"b`, Reason: "x"},
		{Key: "<b>", Reason: "&"},
		{UserID: "é"},
		{UserID: "\x00\n"},
		{UserID: "\u2028"},
	} {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendEvaluation(nil, e)
		if ok && string(got) != string(want) {
			t.Errorf("appendEvaluation(%+v) = %s, json.Marshal = %s", e, got, want)
		}
		if !ok && plainJSON(e.Key) && plainJSON(e.Environment) && plainJSON(e.UserID) && plainJSON(e.Reason) {
			t.Errorf("appendEvaluation(%+v) refused plain strings", e)
		}
	}
}

func FuzzAppendEvaluation(f *testing.F) {
	f.Add("checkout", "prod", "user-1", true, "rollout", 5, int64(7))
	f.Add("<", "\"", "\\", false, "\u2028", -1, int64(-1))
	f.Fuzz(func(t *testing.T, key, env, user string, enabled bool, reason string, bucket int, version int64) {
		e := flags.Evaluation{Key: key, Environment: env, UserID: user, Enabled: enabled, Reason: reason, Bucket: bucket, Version: version}
		want, _ := json.Marshal(e)
		if got, ok := appendEvaluation(nil, e); ok && string(got) != string(want) {
			t.Errorf("appendEvaluation = %s, json.Marshal = %s", got, want)
		}
	})
}
