package testenv

import (
	"fmt"
	"testing"
	"time"
)

// pollInterval is how often Poll calls its condition.
const pollInterval = 10 * time.Millisecond

// Poll calls cond every 10 ms until it returns nil. If timeout passes
// first, the test fails with what, the timeout and cond's last error:
//
//	testenv.Poll(t, 5*time.Second, "breaker closes", func() error {
//		if s := c.State(); s != "up" {
//			return fmt.Errorf("state %q", s)
//		}
//		return nil
//	})
//
// cond runs on the caller's goroutine, so it may call t.Fatal. The interval
// is the only wait: a condition that holds at once costs no sleep.
func Poll(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	PollEvery(t, pollInterval, timeout, what, cond)
}

// PollEvery is Poll with another interval, for conditions too costly to
// check every 10 ms (a PromQL query, a canary gate's evaluation).
func PollEvery(t testing.TB, interval, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := poll(interval, timeout, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// poll calls cond every interval until it returns nil, and returns its
// last error, wrapped, if timeout passes first.
func poll(interval, timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}
