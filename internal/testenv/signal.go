package testenv

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// CatchHangup makes the processes a test starts get SIGHUP's default
// action even when the test runs with SIGHUP ignored (under nohup): a
// child inherits an ignored signal and, as flagstorm does, honours it, so
// a test of what SIGHUP does would fail for the wrong reason. A handler
// installed here for the test's duration un-ignores it, and a handled
// signal is reset to its default in a child at exec.
func CatchHangup(t testing.TB) {
	t.Helper()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	t.Cleanup(func() { signal.Stop(ch) })
}
